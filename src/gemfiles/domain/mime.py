"""Which MIME types an upload may have, and which need processing before use.

Google publishes no upload allow-list; this is the set its documentation and SDKs name for model input
(images, audio, video, documents and text/code), plus the ``x-`` spellings that Python's ``mimetypes`` and
browsers produce for the same formats. Anything else is refused at finalize with
``Unsupported MIME type: <type>``, as the real service does. Parameters (``; charset=utf-8``) are ignored
for the check and kept on the file.

The supported types, by family (``supported_types()`` lists them; ``text/*`` is accepted as a family):

* images: png, jpeg, webp, heic, heif, gif, bmp, tiff
* audio: wav (and its ``x-wav``/``wave``/``vnd.wave`` spellings), mp3/mpeg, aiff, aac, ogg, flac, m4a/mp4,
  opus, webm, and the headerless ``audio/l16`` (16-bit big-endian PCM), ``audio/alaw`` and ``audio/mulaw``,
  whose sample rate and channel count come from the ``rate=`` and ``channels=`` parameters
* video: mp4, mpeg/mpg, mov/quicktime, avi, flv, webm, wmv, 3gpp, matroska
* documents: pdf, json, rtf, xml, JavaScript, TypeScript, Python, shell, YAML, and the Word, Excel,
  PowerPoint and OpenDocument formats
* text: every ``text/*`` type (plain, html, css, csv, markdown, x-python, x-c, ...)

Only video is processed (PROCESSING until its probe makes it ACTIVE or FAILED), as Google keeps videos
PROCESSING; audio is ACTIVE at finalize, as Google returns it (a model call that uses it before the
background probe probes it on demand). Every other supported file is ACTIVE at once and its facts are
added in the background.

This module is the one home of MIME knowledge: the upload allow-list, the one file-kind classifier
(``file_kind``: which probe, converter and token rate a file gets), the text-like types and the headerless
PCM table, and what counts as an upload without a type (``is_untyped``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

IMAGE = {
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/gif",
    "image/bmp",
    "image/tiff",
}
AUDIO = {
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/vnd.wave",
    "audio/mp3",
    "audio/mpeg",
    "audio/aiff",
    "audio/x-aiff",
    "audio/aac",
    "audio/x-aac",
    "audio/ogg",
    "audio/flac",
    "audio/x-flac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/l16",
    "audio/opus",
    "audio/alaw",
    "audio/mulaw",
    "audio/webm",
}
VIDEO = {
    "video/mp4",
    "video/mpeg",
    "video/mpg",
    "video/mov",
    "video/quicktime",
    "video/avi",
    "video/x-msvideo",
    "video/x-flv",
    "video/webm",
    "video/wmv",
    "video/x-ms-wmv",
    "video/3gpp",
    "video/x-matroska",
}
# Documents that are text underneath: probed, converted and counted like text/* (line count, first line).
TEXTUAL = {
    "application/json",
    "application/rtf",
    "application/xml",
    "application/x-javascript",
    "application/javascript",
    "application/x-typescript",
    "application/x-python-code",
    "application/x-python",
    "application/x-sh",
    "application/x-yaml",
    # JSON Lines, as the Batch API page uploads its input: the SDKs' bare "jsonl", and what
    # `file -b --mime-type` says for such a file.
    "jsonl",
    "application/jsonl",
    "application/x-ndjson",
}
DOCUMENT = {
    "application/pdf",
    *TEXTUAL,
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
}
# text/* is accepted as a family (plain, html, css, csv, markdown, xml, x-python, x-c, ...).
TEXT_FAMILY = "text/"

# Structured-syntax suffixes (RFC 6839) of types that are text underneath: application/ld+json, ...+xml.
TEXT_SUFFIXES = ("+json", "+xml")

SUPPORTED = frozenset(IMAGE | AUDIO | VIDEO | DOCUMENT)

FileKind = Literal["video", "audio", "image", "pdf", "text", "other"]


@dataclass(frozen=True, slots=True)
class RawPcm:
    """A headerless audio type: FFmpeg's demuxer for it and the sample rate when ``rate=`` is not given."""

    demuxer: str
    default_rate: int


# Headerless audio: the MIME type names the sample encoding, its parameters the rate and channel count.
RAW_PCM: dict[str, RawPcm] = {
    "audio/l16": RawPcm("s16be", 16000),  # RFC 2586: 16-bit big-endian linear PCM
    "audio/alaw": RawPcm("alaw", 8000),  # G.711 (RFC 3551), telephony rate unless told otherwise
    "audio/mulaw": RawPcm("mulaw", 8000),
}


def base_type(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def family(mime_type: str) -> str:
    """The top-level type: ``text/x-python`` -> ``text``, ``application/json`` -> ``application``."""
    return base_type(mime_type).partition("/")[0]


def parameters(mime_type: str) -> dict[str, str]:
    """The ``;``-separated parameters, names lower-cased: ``audio/l16; rate=8000`` -> ``{"rate": "8000"}``."""
    out: dict[str, str] = {}
    for item in mime_type.split(";")[1:]:
        name, sep, value = item.partition("=")
        if sep:
            out[name.strip().lower()] = value.strip().strip('"')
    return out


def is_text(mime_type: str) -> bool:
    """text/* and the documents that are text underneath (JSON, XML, code, ``+json``/``+xml`` types)."""
    base = base_type(mime_type)
    return base.startswith(TEXT_FAMILY) or base in TEXTUAL or base.endswith(TEXT_SUFFIXES)


def file_kind(mime_type: str) -> FileKind:
    """The one classifier: ``video``, ``audio``, ``image`` (by family), ``pdf``, ``text`` (``is_text``) or
    ``other`` (Office documents, archives, ...). It decides which probe, converter and token rate a file gets."""
    base = base_type(mime_type)
    top = family(base)
    if top == "video":
        return "video"
    if top == "audio":
        return "audio"
    if top == "image":
        return "image"
    if base == "application/pdf":
        return "pdf"
    if is_text(base):
        return "text"
    return "other"


def raw_pcm(mime_type: str) -> RawPcm | None:
    """The demuxer and default rate of a headerless audio type, or None for any other type."""
    return RAW_PCM.get(base_type(mime_type))


def is_supported(mime_type: str) -> bool:
    base = base_type(mime_type)
    if base.startswith(TEXT_FAMILY) and len(base) > len(TEXT_FAMILY):
        return True
    return base in SUPPORTED


def needs_processing(mime_type: str) -> bool:
    """Video starts PROCESSING; a probe of its bytes makes it ACTIVE or FAILED. Audio is ACTIVE at once."""
    return base_type(mime_type) in VIDEO


def supported_types() -> list[str]:
    """Every accepted MIME type, sorted, then the ``text/*`` family."""
    return [*sorted(SUPPORTED), "text/*"]


OCTET_STREAM = "application/octet-stream"


def is_untyped(mime_type: str) -> bool:
    """An upload that named no type (the Go SDK's ``Files.Upload(ctx, r, nil)``) or only the generic one: its
    bytes are asked for a type at finalize (the ``TypeSniffer`` port), else it is stored as
    ``application/octet-stream``, which no model call reads (``400 Unsupported MIME type``, as on Google)."""
    return base_type(mime_type) in ("", OCTET_STREAM)
