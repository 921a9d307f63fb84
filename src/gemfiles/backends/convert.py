"""Files into what an OpenAI-compatible chat-completions server accepts.

Those servers have no Files API, so each file a request refers to becomes content parts:

    image/png, jpeg, webp, gif     ``image_url`` with a data URL of the bytes as they are
    other images (bmp, tiff, ...)  re-encoded with Pillow to JPEG (PNG if it has alpha), longest side capped
    audio/wav, audio/mpeg          ``input_audio`` with the bytes as they are (format wav / mp3)
    other audio                    decoded with PyAV into 16-bit mono wav at ``audio_sample_rate``
    video                          frames sampled at ``frame_rate`` (at most ``max_frames``, spread evenly
                                   over the whole video when it is longer), each a JPEG ``image_url``, then
                                   the audio track as wav ``input_audio``
    application/pdf                its text, page by page (pypdf), as one text part with page markers
    text/*, json, xml, code        the text inline, up to ``max_text_bytes``

Memory stays flat whatever the file's size: nothing is read whole. Big values (a PDF's text, a wav track,
an image passed through) are never Python strings: a part holds a ``JsonString`` whose pieces are streamed
from the blob store or from a temporary file when the request body is written. Video frames are decoded
one at a time and encoded to JPEG at once (a few tens of KB each), so the raw pixels of only one frame are
ever held.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar

from gemfiles.backends.decodable import Decodable
from gemfiles.backends.jsonbody import (
    Base64Of,
    ByteStream,
    JsonString,
    Segment,
    TextOf,
    bytes_stream,
    spool_stream,
)
from gemfiles.backends.options import ConvertOptions
from gemfiles.backends.transcode import (
    audio_to_wav,
    count_pages,
    frame_times,
    pdf_to_text,
    reencode_image,
    sample_frames,
)
from gemfiles.domain.calls import InlineData, ModalityCount, ResolvedFile
from gemfiles.domain.mime import FileKind, base_type, file_kind
from gemfiles.domain.tokens import AUDIO_TOKENS_PER_SECOND, CHARS_PER_TOKEN, IMAGE_TOKENS, PDF_PAGE_TOKENS
from gemfiles.errors import InvalidArgument
from gemfiles.media.isolated import ProbeFailed, run_isolated

T = TypeVar("T")

# OpenAI documents these image types for image_url parts; anything else is re-encoded.
PASSTHROUGH_IMAGES = {"image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"}
# input_audio takes only these two formats.
PASSTHROUGH_AUDIO = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3", "audio/mp3": "mp3",
}  # fmt: skip


# -- Sources: an uploaded file or inline bytes, seen the same way ---------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    label: str  # "files/abc123" or "inline data"
    mime_type: str
    size: int
    facts: dict[str, Any]
    stream: ByteStream
    decodable: Decodable

    @classmethod
    def of_file(cls, file: ResolvedFile) -> Source:
        record = file.record
        facts = dict(record.facts or {})
        decodable = Decodable(record.name, record.mime_type, facts, file.blobs.url, record.blob_key)
        return cls(record.name, record.mime_type, record.size_bytes, facts, file.open, decodable)

    @classmethod
    def of_inline(cls, inline: InlineData) -> Source:
        data = inline.data
        facts = dict(getattr(inline, "facts", None) or {})
        decodable = Decodable("inline data", inline.mime_type, facts, data=data)
        return cls("inline data", inline.mime_type, len(data), facts, bytes_stream(data), decodable)

    @property
    def base_type(self) -> str:
        return base_type(self.mime_type)

    @property
    def kind(self) -> FileKind:
        return file_kind(self.mime_type)


# -- Converted content ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Converted:
    """Content parts for one file, the temporary files behind them, and what they cost in tokens."""

    parts: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[ModalityCount] = field(default_factory=list)
    spools: list[BinaryIO] = field(default_factory=list)

    def close(self) -> None:
        for spool in self.spools:
            spool.close()
        self.spools.clear()


def text_part(*pieces: str | Segment) -> dict[str, Any]:
    return {"type": "text", "text": JsonString(list(pieces))}


def image_part(mime_type: str, data: Segment) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": JsonString([f"data:{mime_type};base64,", data])}}


def audio_part(fmt: str, data: Segment) -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": JsonString([data]), "format": fmt}}


async def convert(source: Source, options: ConvertOptions) -> Converted:
    """The content parts for one file. Raises InvalidArgument for what cannot be converted."""
    out = Converted()
    try:
        await _CONVERTERS.get(source.kind, _refuse)(source, options, out)
    except BaseException:
        out.close()
        raise
    return out


async def _refuse(source: Source, options: ConvertOptions, out: Converted) -> None:
    raise InvalidArgument(
        f"The model server behind this model cannot take {source.base_type} ({source.label}); "
        "upload it as PDF, text, an image, audio or video."
    )


async def _text(source: Source, options: ConvertOptions, out: Converted) -> None:
    header = f"[{source.label} ({source.base_type})]\n"
    out.parts.append(text_part(header, TextOf(source.stream, options.max_text_bytes)))
    shown = min(source.size, options.max_text_bytes)
    out.tokens.append(ModalityCount("TEXT", math.ceil(shown / CHARS_PER_TOKEN)))


async def _image(source: Source, options: ConvertOptions, out: Converted) -> None:
    if source.base_type in PASSTHROUGH_IMAGES:
        mime = "image/jpeg" if source.base_type == "image/jpg" else source.base_type
        out.parts.append(image_part(mime, Base64Of(source.stream)))
    else:
        mime, data = await _decode(source, options, reencode_image, options)
        out.parts.append(image_part(mime, Base64Of(bytes_stream(data))))
    out.tokens.append(ModalityCount("IMAGE", IMAGE_TOKENS))


async def _audio(source: Source, options: ConvertOptions, out: Converted) -> None:
    fmt = PASSTHROUGH_AUDIO.get(source.base_type)
    duration = source.facts.get("duration_seconds")
    seconds: float | None
    if fmt is not None and duration is not None and float(duration) <= options.max_audio_seconds:
        out.parts.append(audio_part(fmt, Base64Of(source.stream)))
        seconds = float(duration)
    else:
        spool = _spool(out)
        seconds = await _decode_into(spool, source, options, audio_to_wav, options, None)
        if seconds is None:
            raise InvalidArgument(f"{source.label} has no audio stream that can be decoded.")
        out.parts.append(audio_part("wav", Base64Of(spool_stream(spool))))
    out.tokens.append(ModalityCount("AUDIO", math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)))


async def _video(source: Source, options: ConvertOptions, out: Converted) -> None:
    frames = await _decode(source, options, sample_frames, options)
    if not frames:
        raise InvalidArgument(f"{source.label} has no video frames that can be decoded.")
    spool = _spool(out)
    seconds = await _decode_into(spool, source, options, audio_to_wav, options, "video")
    stamps = ", ".join(f"{t:.1f}s" for t, _ in frames)
    track = "; its audio track follows the frames" if seconds is not None else "; it has no audio track"
    about = f"[{source.label} ({source.base_type}): {len(frames)} frames at {stamps}{track}]"
    out.parts.append(text_part(about))
    for _, jpeg in frames:
        out.parts.append(image_part("image/jpeg", Base64Of(bytes_stream(jpeg))))
    out.tokens.append(ModalityCount("VIDEO", len(frames) * IMAGE_TOKENS))
    if seconds is not None:
        out.parts.append(audio_part("wav", Base64Of(spool_stream(spool))))
        out.tokens.append(ModalityCount("AUDIO", math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)))


async def _pdf(source: Source, options: ConvertOptions, out: Converted) -> None:
    spool = _spool(out)
    pages = await _decode_into(spool, source, options, pdf_to_text, options.max_text_bytes)
    header = f"[{source.label} (application/pdf), {pages} pages, text extracted page by page]\n"
    out.parts.append(text_part(header, TextOf(spool_stream(spool), options.max_text_bytes * 2)))
    out.tokens.append(ModalityCount("DOCUMENT", pages * PDF_PAGE_TOKENS))


_CONVERTERS = {"text": _text, "image": _image, "audio": _audio, "video": _video, "pdf": _pdf}


# -- Decoding, each in a child process ---------------------------------------------------------------------


async def _decode(source: Source, options: ConvertOptions, decoder: Callable[..., T], *args: Any) -> T:
    """``decoder(source, *args)`` in a child process: a decoder that crashes or hangs on hostile bytes takes
    down only its child (``media.isolated``), and the client hears that the file cannot be decoded."""
    return await _isolated(source, options, (), decoder, source.decodable, *args)


async def _decode_into(
    spool: BinaryIO, source: Source, options: ConvertOptions, decoder: Callable[..., T], *args: Any
) -> T:
    """``decoder(source, out, *args)`` in a child process, writing into ``spool`` (shared with the child)."""
    fd = spool.fileno()
    return await _isolated(source, options, (fd,), _writing_to, decoder, fd, source.decodable, *args)


async def _isolated(
    source: Source, options: ConvertOptions, fds: tuple[int, ...], target: Callable[..., T], *args: Any
) -> T:
    try:
        return await asyncio.to_thread(
            run_isolated,
            target,
            *args,
            timeout=options.decode_timeout,
            memory_mib=options.decode_memory_mib,
            pass_fds=fds,
        )
    except ProbeFailed as exc:
        raise InvalidArgument(
            f"{source.label} ({source.base_type}) could not be decoded for the model server: the decoder {exc}."
        ) from None


def _writing_to(decoder: Callable[..., T], fd: int, source: Decodable, *args: Any) -> T:
    """Runs in the child: the parent's temporary file, under the same descriptor number, as the output."""
    with os.fdopen(fd, "r+b", closefd=False) as out:
        return decoder(source, out, *args)


def _spool(out: Converted) -> BinaryIO:
    spool = tempfile.TemporaryFile(prefix="gemfiles-convert-")  # closed by Converted.close
    out.spools.append(spool)
    return spool


# -- Token estimates from what the media layer stored (no conversion) --------------------------------------


async def estimate(source: Source, options: ConvertOptions) -> list[ModalityCount]:
    """What ``convert`` would send, in tokens: for countTokens and for servers that report no usage."""
    kind = source.kind
    if kind == "text":
        return [ModalityCount("TEXT", math.ceil(min(source.size, options.max_text_bytes) / CHARS_PER_TOKEN))]
    if kind == "image":
        return [ModalityCount("IMAGE", IMAGE_TOKENS)]
    duration = source.facts.get("duration_seconds")
    seconds = min(float(duration), options.max_audio_seconds) if duration is not None else 0.0
    if kind == "audio":
        return [ModalityCount("AUDIO", math.ceil(seconds * AUDIO_TOKENS_PER_SECOND))]
    if kind == "video":
        length = float(duration) if duration is not None else None
        frames = len(frame_times(length, options.frame_rate, options.max_frames))
        out = [ModalityCount("VIDEO", frames * IMAGE_TOKENS)]
        if source.facts.get("audio_codec"):
            out.append(ModalityCount("AUDIO", math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)))
        return out
    if kind == "pdf":
        known = source.facts.get("pages")
        pages = known if isinstance(known, int) else await _decode(source, options, count_pages)
        return [ModalityCount("DOCUMENT", pages * PDF_PAGE_TOKENS)]
    return []
