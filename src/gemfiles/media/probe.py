"""Probes: facts from a file's bytes, computed once after upload and stored with it (``FileRecord.facts``).

The facts, by kind of file (the names are stable: the protocol layer and the model backends read them):

* video: ``duration_seconds``, ``container``, ``video_codec``, ``width``, ``height``, ``fps``, ``frames``
  (when the container counts them, or the packets were demuxed anyway), ``rotation`` (when not 0),
  ``bit_rate``, and for its first audio track ``audio_codec``, ``sample_rate``, ``channels``.
* audio: ``duration_seconds``, ``container``, ``audio_codec``, ``sample_rate``, ``channels``, ``bit_rate``.
* image: ``width``, ``height``, ``format`` (PNG, JPEG, GIF, BMP, TIFF, WEBP, HEIF), ``mode`` (not for HEIF),
  ``animated`` (when true), ``orientation`` (the EXIF one, when not 1).
* PDF: ``pages``; ``first_line`` and ``first_text_page`` (the first page with text, within the first 20);
  ``title`` (when the document names one); ``encrypted`` (when true).
* text/* and the text-based documents (JSON, XML, code): ``line_count``, ``char_count``, ``first_line`` (the
  first non-blank line), ``encoding``.
* anything else (Office documents): ``{}``.

``first_line`` is trimmed of surrounding whitespace and cut to 200 characters. ``duration_seconds`` is a
float rounded to microseconds; ``protocol/wire.py`` renders it as ``videoMetadata.videoDuration``.

When the bytes are not what the MIME type says, video and audio end FAILED, with ``error`` a google.rpc.Status
(``{"code": 3, "message": ...}``, INVALID_ARGUMENT) that says why, and facts ``{"probe_error": ...}``. Images,
PDFs and text stay ACTIVE, as Google does not process them, and their facts record ``{"probe_error": ...}``
(next to whatever could be read, e.g. a PDF's page count when only its text failed).

Each probe runs in a child process (``isolated``) on the blob store's blocking, seekable ``reader()`` and
streams: see the docstrings of ``audiovisual`` (how PyAV reads through the file object), ``images`` and
``documents``.
"""

from __future__ import annotations

from typing import BinaryIO

from gemfiles.domain.mime import file_kind
from gemfiles.domain.models import FileRecord, FileState
from gemfiles.domain.ports import BlobStore, ProbeResult
from gemfiles.media.facts import Facts, NotMedia

__all__ = ["NotMedia", "has_probe", "not_media", "probe_handle", "probe_sync"]

# google.rpc.Code INVALID_ARGUMENT: the client sent bytes that are not the media it declared.
INVALID_ARGUMENT = 3


def has_probe(mime_type: str) -> bool:
    """Every kind but ``other`` (Office documents, archives, ...) has a probe."""
    return file_kind(mime_type) != "other"


def probe_handle(handle: BinaryIO, mime_type: str) -> Facts:
    """The facts about the bytes behind ``handle`` (blocking; any seekable binary file object).

    Raises NotMedia, with the reason, if they are not what ``mime_type`` says, and OSError if ``handle``
    cannot be read. An unexpected error inside PyAV propagates as it is; inside the image, PDF and text
    parsers, which meet damaged files daily, it is reported as NotMedia.
    """
    kind = file_kind(mime_type)
    if kind in ("video", "audio"):
        from gemfiles.media.audiovisual import probe_av

        return probe_av(handle, kind, mime_type)
    if kind == "other":
        return {}
    try:
        if kind == "image":
            from gemfiles.media.images import probe_image

            return probe_image(handle)
        from gemfiles.media.documents import probe_pdf, probe_text

        return probe_pdf(handle) if kind == "pdf" else probe_text(handle, mime_type)
    except (NotMedia, OSError):
        raise
    except Exception as exc:
        raise NotMedia(f"could not be read ({exc.__class__.__name__}: {exc})") from None


def probe_sync(record: FileRecord, blobs: BlobStore) -> ProbeResult:
    """(state, facts, error) for a file, without touching the metadata. Blocking, and meant for the child
    process of ``isolated`` (the server calls ``isolated.IsolatedProber``).

    Errors reading the blob store itself (OSError) propagate: they say nothing about the bytes, and the
    worker records them.
    """
    if not has_probe(record.mime_type):
        return ProbeResult(FileState.ACTIVE, {}, None)
    try:
        with blobs.reader(record.blob_key) as handle:
            facts = probe_handle(handle, record.mime_type)
    except NotMedia as exc:
        return not_media(record, str(exc))
    return ProbeResult(FileState.ACTIVE, facts, None)


def not_media(record: FileRecord, reason: str) -> ProbeResult:
    """The result for bytes the probe could not read: video and audio FAILED, anything else ACTIVE."""
    if file_kind(record.mime_type) in ("video", "audio"):
        message = f"The file {record.name} could not be processed: {reason}."
        return ProbeResult(
            FileState.FAILED, {"probe_error": reason}, {"code": INVALID_ARGUMENT, "message": message}
        )
    return ProbeResult(FileState.ACTIVE, {"probe_error": reason}, None)
