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
import io
import math
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from gemfiles.backends.base import InlineData, ModalityCount, ResolvedFile
from gemfiles.backends.jsonbody import (
    Base64Of,
    ByteStream,
    JsonString,
    Segment,
    TextOf,
    bytes_stream,
    spool_stream,
)
from gemfiles.errors import InvalidArgument

# OpenAI documents these image types for image_url parts; anything else is re-encoded.
PASSTHROUGH_IMAGES = {"image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"}
# input_audio takes only these two formats.
PASSTHROUGH_AUDIO = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3", "audio/mp3": "mp3",
}  # fmt: skip
TEXT_APPLICATIONS = {
    "application/json", "application/xml", "application/rtf", "application/javascript",
    "application/x-javascript", "application/x-typescript", "application/x-python",
    "application/x-python-code", "application/x-sh", "application/x-yaml",
}  # fmt: skip
# Headerless PCM types: the PyAV demuxer and its defaults (RFC 3551 rates).
RAW_AUDIO = {"audio/l16": ("s16be", 16000), "audio/alaw": ("alaw", 8000), "audio/mulaw": ("mulaw", 8000)}

# Google's documented rates, used when the model server reports no usage and by countTokens.
TOKENS_PER_IMAGE = 258
TOKENS_PER_PDF_PAGE = 258
TOKENS_PER_AUDIO_SECOND = 32
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    frame_rate: float = 1.0  # video frames per second of video
    max_frames: int = 32  # per video; a longer video gets this many, spread evenly
    frame_max_side: int = 768  # pixels, longest side of a sampled frame
    jpeg_quality: int = 80
    image_max_side: int = 2048  # only for images we re-encode; accepted types pass through untouched
    audio_sample_rate: int = 16000  # of the wav we make (speech models resample to 16 kHz anyway)
    max_audio_seconds: float = 600.0  # longer audio (and video soundtracks) is cut here
    max_text_bytes: int = 4 * 1024 * 1024  # per text file, and per PDF's extracted text


# -- Sources: an uploaded file or inline bytes, seen the same way ---------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    label: str  # "files/abc123" or "inline data"
    mime_type: str
    size: int
    facts: dict[str, Any]
    stream: ByteStream
    reader: Callable[[], BinaryIO]

    @classmethod
    def of_file(cls, file: ResolvedFile) -> Source:
        record = file.record
        facts = dict(record.facts or {})
        return cls(record.name, record.mime_type, record.size_bytes, facts, file.open, file.reader)

    @classmethod
    def of_inline(cls, inline: InlineData) -> Source:
        data = inline.data
        facts = dict(getattr(inline, "facts", None) or {})
        return cls(
            "inline data", inline.mime_type, len(data), facts, bytes_stream(data), lambda: io.BytesIO(data)
        )

    @property
    def base_type(self) -> str:
        return self.mime_type.split(";", 1)[0].strip().lower()

    @property
    def kind(self) -> str:
        base = self.base_type
        if base.startswith("image/"):
            return "image"
        if base.startswith("audio/"):
            return "audio"
        if base.startswith("video/"):
            return "video"
        if base == "application/pdf":
            return "pdf"
        if base.startswith("text/") or base in TEXT_APPLICATIONS or base.endswith(("+json", "+xml")):
            return "text"
        return "other"


# -- Converted content ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Converted:
    """Content parts for one file, the temporary files behind them, and what they cost in tokens."""

    parts: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[ModalityCount] = field(default_factory=list)
    spools: list[BinaryIO] = field(default_factory=list)

    @property
    def text_only(self) -> bool:
        return all(part["type"] == "text" for part in self.parts)

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
        mime, data = await asyncio.to_thread(reencode_image, source, options)
        out.parts.append(image_part(mime, Base64Of(bytes_stream(data))))
    out.tokens.append(ModalityCount("IMAGE", TOKENS_PER_IMAGE))


async def _audio(source: Source, options: ConvertOptions, out: Converted) -> None:
    fmt = PASSTHROUGH_AUDIO.get(source.base_type)
    duration = source.facts.get("duration_seconds")
    seconds: float | None
    if fmt is not None and duration is not None and float(duration) <= options.max_audio_seconds:
        out.parts.append(audio_part(fmt, Base64Of(source.stream)))
        seconds = float(duration)
    else:
        spool = _spool(out)
        seconds = await asyncio.to_thread(audio_to_wav, source, spool, options, None)
        if seconds is None:
            raise InvalidArgument(f"{source.label} has no audio stream that can be decoded.")
        out.parts.append(audio_part("wav", Base64Of(spool_stream(spool))))
    out.tokens.append(ModalityCount("AUDIO", math.ceil(seconds * TOKENS_PER_AUDIO_SECOND)))


async def _video(source: Source, options: ConvertOptions, out: Converted) -> None:
    frames = await asyncio.to_thread(sample_frames, source, options)
    if not frames:
        raise InvalidArgument(f"{source.label} has no video frames that can be decoded.")
    spool = _spool(out)
    seconds = await asyncio.to_thread(audio_to_wav, source, spool, options, "video")
    stamps = ", ".join(f"{t:.1f}s" for t, _ in frames)
    track = "; its audio track follows the frames" if seconds is not None else "; it has no audio track"
    about = f"[{source.label} ({source.base_type}): {len(frames)} frames at {stamps}{track}]"
    out.parts.append(text_part(about))
    for _, jpeg in frames:
        out.parts.append(image_part("image/jpeg", Base64Of(bytes_stream(jpeg))))
    out.tokens.append(ModalityCount("VIDEO", len(frames) * TOKENS_PER_IMAGE))
    if seconds is not None:
        out.parts.append(audio_part("wav", Base64Of(spool_stream(spool))))
        out.tokens.append(ModalityCount("AUDIO", math.ceil(seconds * TOKENS_PER_AUDIO_SECOND)))


async def _pdf(source: Source, options: ConvertOptions, out: Converted) -> None:
    spool = _spool(out)
    pages = await asyncio.to_thread(pdf_to_text, source, spool, options.max_text_bytes)
    header = f"[{source.label} (application/pdf), {pages} pages, text extracted page by page]\n"
    out.parts.append(text_part(header, TextOf(spool_stream(spool), options.max_text_bytes * 2)))
    out.tokens.append(ModalityCount("DOCUMENT", pages * TOKENS_PER_PDF_PAGE))


_CONVERTERS = {"text": _text, "image": _image, "audio": _audio, "video": _video, "pdf": _pdf}


def _spool(out: Converted) -> BinaryIO:
    spool = tempfile.TemporaryFile(prefix="gemfiles-convert-")  # closed by Converted.close
    out.spools.append(spool)
    return spool


# -- The blocking conversions, run in a worker thread -------------------------------------------------


def reencode_image(source: Source, options: ConvertOptions) -> tuple[str, bytes]:
    from PIL import Image, UnidentifiedImageError

    try:
        with source.reader() as handle, Image.open(handle) as image:
            image.draft("RGB", (options.image_max_side, options.image_max_side))
            image.thumbnail((options.image_max_side, options.image_max_side))
            alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            pixels = image.convert("RGBA" if alpha else "RGB")
            buffer = io.BytesIO()
            if alpha:
                pixels.save(buffer, "PNG", optimize=True)
                return "image/png", buffer.getvalue()
            pixels.save(buffer, "JPEG", quality=options.jpeg_quality)
            return "image/jpeg", buffer.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidArgument(
            f"{source.label} ({source.base_type}) could not be decoded for the model server: {_why(exc)}."
        ) from None


def audio_to_wav(source: Source, out: BinaryIO, options: ConvertOptions, kind: str | None) -> float | None:
    """Decodes the first audio stream into mono 16-bit wav; returns its seconds, or None if there is none."""
    import av

    raw = RAW_AUDIO.get(source.base_type)
    open_kwargs: dict[str, Any] = {}
    if raw is not None:
        params = dict(p.strip().split("=", 1) for p in source.mime_type.split(";")[1:] if "=" in p)
        open_kwargs = {
            "format": raw[0],
            "options": {"sample_rate": params.get("rate", str(raw[1])), "ch_layout": "mono"},
        }
    rate = options.audio_sample_rate
    limit = int(options.max_audio_seconds * rate)
    written = 0
    try:
        with source.reader() as handle, av.open(handle, mode="r", **open_kwargs) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            with wave.open(out, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(rate)
                for frame in container.decode(stream):
                    for chunk in resampler.resample(frame):
                        samples = bytes(chunk.planes[0])[: chunk.samples * 2]
                        take = min(chunk.samples, limit - written)
                        wav.writeframes(samples[: take * 2])
                        written += take
                    if written >= limit:
                        break
                else:
                    for chunk in resampler.resample(None):
                        take = min(chunk.samples, limit - written)
                        wav.writeframes(bytes(chunk.planes[0])[: take * 2])
                        written += take
    except (av.FFmpegError, OSError, ValueError) as exc:
        if kind == "video":
            return None  # the frames still go; a broken soundtrack is dropped
        raise InvalidArgument(
            f"{source.label} ({source.base_type}) cannot be decoded as audio: {_why(exc)}."
        ) from None
    out.flush()
    return written / rate


def pdf_to_text(source: Source, out: BinaryIO, limit: int) -> int:
    """Writes each page's text to ``out`` (UTF-8) with a page marker; returns the number of pages."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    written = 0
    try:
        with source.reader() as handle:
            reader = PdfReader(handle)
            if reader.is_encrypted and not reader.decrypt(""):
                raise InvalidArgument(f"{source.label} is an encrypted PDF; upload it without a password.")
            pages = len(reader.pages)
            for number in range(pages):
                if written > limit:
                    break
                # One page at a time: the page and what pypdf resolved for it are dropped before the next.
                text = reader.pages[number].extract_text() or ""
                chunk = f"\n[Page {number + 1}]\n{text.strip()}\n".encode()
                out.write(chunk)
                written += len(chunk)
                _forget_page(reader, number)
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"{source.label} is not a PDF that can be read: {_why(exc)}.") from None
    out.flush()
    return pages


def _why(exc: Exception) -> str:
    """An exception's own words: FFmpeg's strerror without errno and file-name noise."""
    return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)


def _forget_page(reader: Any, number: int) -> None:
    """pypdf caches every object it resolves; drop them so a long PDF costs one page's memory."""
    cache = getattr(reader, "resolved_objects", None)
    if isinstance(cache, dict):
        cache.clear()


def video_duration(source: Source, container: Any, stream: Any) -> float | None:
    if source.facts.get("duration_seconds") is not None:
        return float(source.facts["duration_seconds"])
    if container.duration is not None:
        return float(container.duration / 1_000_000)
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def frame_times(duration: float | None, rate: float, max_frames: int) -> list[float]:
    """Every 1/rate seconds from the start; a video too long for ``max_frames`` gets them spread evenly."""
    if duration is None:
        return [i / rate for i in range(max_frames)]  # unknown length: the first max_frames, in order
    count = max(1, math.ceil(duration * rate))
    if count <= max_frames:
        return [i / rate for i in range(count)]
    return [duration * (i + 0.5) / max_frames for i in range(max_frames)]


# Closer targets than this are reached by decoding on; farther ones by seeking to the keyframe before them.
SEEK_GAP_SECONDS = 2.0


def sample_frames(source: Source, options: ConvertOptions) -> list[tuple[float, bytes]]:
    """(seconds, JPEG bytes) for each sampled frame, decoded one at a time."""
    import av

    frames: list[tuple[float, bytes]] = []
    try:
        with source.reader() as handle, av.open(handle, mode="r") as container:
            if not container.streams.video:
                return []
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # one frame in flight: flat memory on 2 cores
            time_base = float(stream.time_base or 1 / 90000)
            start = stream.start_time * time_base if stream.start_time is not None else 0.0
            rate = float(stream.average_rate) if stream.average_rate else 25.0
            tolerance = 0.5 / rate
            decoded: Any = None
            last: float | None = None
            duration = video_duration(source, container, stream)
            for target in frame_times(duration, options.frame_rate, options.max_frames):
                if decoded is None or last is None or target < last or target - last > SEEK_GAP_SECONDS:
                    container.seek(int((start + target) / time_base), stream=stream, backward=True)
                    decoded = container.decode(stream)
                picked = None
                for frame in decoded:
                    if frame.time is None:
                        continue
                    last = frame.time - start
                    if last >= target - tolerance:
                        picked = frame
                        break
                if picked is None:
                    break  # past the end
                frames.append((max(0.0, target), to_jpeg(picked, options)))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InvalidArgument(
            f"{source.label} ({source.base_type}) cannot be decoded as video: {_why(exc)}."
        ) from None
    return frames


def to_jpeg(frame: Any, options: ConvertOptions) -> bytes:
    scale = min(1.0, options.frame_max_side / max(frame.width, frame.height))
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    buffer = io.BytesIO()
    frame.to_image(width=width, height=height).save(buffer, "JPEG", quality=options.jpeg_quality)
    return buffer.getvalue()


# -- Token estimates from what the media layer stored (no conversion) --------------------------------------


async def estimate(source: Source, options: ConvertOptions) -> list[ModalityCount]:
    """What ``convert`` would send, in tokens: for countTokens and for servers that report no usage."""
    kind = source.kind
    if kind == "text":
        return [ModalityCount("TEXT", math.ceil(min(source.size, options.max_text_bytes) / CHARS_PER_TOKEN))]
    if kind == "image":
        return [ModalityCount("IMAGE", TOKENS_PER_IMAGE)]
    duration = source.facts.get("duration_seconds")
    seconds = min(float(duration), options.max_audio_seconds) if duration is not None else 0.0
    if kind == "audio":
        return [ModalityCount("AUDIO", math.ceil(seconds * TOKENS_PER_AUDIO_SECOND))]
    if kind == "video":
        length = float(duration) if duration is not None else None
        frames = len(frame_times(length, options.frame_rate, options.max_frames))
        out = [ModalityCount("VIDEO", frames * TOKENS_PER_IMAGE)]
        if source.facts.get("audio_codec"):
            out.append(ModalityCount("AUDIO", math.ceil(seconds * TOKENS_PER_AUDIO_SECOND)))
        return out
    if kind == "pdf":
        known = source.facts.get("pages")
        pages = known if isinstance(known, int) else await asyncio.to_thread(count_pages, source)
        return [ModalityCount("DOCUMENT", pages * TOKENS_PER_PDF_PAGE)]
    return []


def count_pages(source: Source) -> int:
    from pypdf import PdfReader

    try:
        with source.reader() as handle:
            return len(PdfReader(handle).pages)
    except Exception:  # countTokens never fails on a PDF it cannot read; generateContent will say why
        return 0
