"""The blocking half of the conversions: PyAV, Pillow and pypdf, run in a child process (``convert``).

Each reads the file through its seekable ``reader()`` and writes what it makes to a temporary file (or
returns a few small JPEGs), so memory stays flat whatever the file's size: one decoded video frame, one
audio frame, one PDF page at a time.
"""

from __future__ import annotations

import io
import math
import wave
from typing import TYPE_CHECKING, Any, BinaryIO

from gemfiles.domain.mime import parameters, raw_pcm
from gemfiles.errors import InvalidArgument

if TYPE_CHECKING:
    from gemfiles.backends.decodable import Decodable
    from gemfiles.backends.options import ConvertOptions

# Closer targets than this are reached by decoding on; farther ones by seeking to the keyframe before them.
SEEK_GAP_SECONDS = 2.0


def reencode_image(source: Decodable, options: ConvertOptions) -> tuple[str, bytes]:
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


def audio_to_wav(source: Decodable, out: BinaryIO, options: ConvertOptions, kind: str | None) -> float | None:
    """Decodes the first audio stream into mono 16-bit wav; returns its seconds, or None if there is none."""
    import av

    raw = raw_pcm(source.mime_type)
    open_kwargs: dict[str, Any] = {}
    if raw is not None:
        params = parameters(source.mime_type)
        open_kwargs = {
            "format": raw.demuxer,
            "options": {"sample_rate": params.get("rate", str(raw.default_rate)), "ch_layout": "mono"},
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


def pdf_to_text(source: Decodable, out: BinaryIO, limit: int) -> int:
    """Writes each page's text to ``out`` (UTF-8) with a page marker; returns the number of pages."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    from gemfiles.media.documents import PDF_READ_LIMIT
    from gemfiles.media.facts import BoundedReads, NotMedia

    errors = (NotMedia, PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError)
    written = 0
    try:
        with source.reader() as handle:
            if b"%PDF-" not in handle.read(1024):
                raise NotMedia("no %PDF- header in the first 1024 bytes")
            handle.seek(0)
            # A damaged file that pypdf would rebuild by reading it whole fails instead.
            reader = PdfReader(BoundedReads(handle, PDF_READ_LIMIT))  # type: ignore[arg-type]
            if reader.is_encrypted and not reader.decrypt(""):
                raise InvalidArgument(f"{source.label} is an encrypted PDF; upload it without a password.")
            pages = len(reader.pages)
            for number in range(pages):
                if written > limit:
                    break
                text = reader.pages[number].extract_text() or ""
                chunk = f"\n[Page {number + 1}]\n{text.strip()}\n".encode()
                out.write(chunk)
                written += len(chunk)
                _forget_objects(reader)
    except errors as exc:
        raise InvalidArgument(f"{source.label} is not a PDF that can be read: {_why(exc)}.") from None
    out.flush()
    return pages


def _why(exc: Exception) -> str:
    """An exception's own words: FFmpeg's strerror without errno and file-name noise."""
    return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)


def _forget_objects(reader: Any) -> None:
    """pypdf caches every object it resolves; dropping them after each page keeps a 200-page PDF with an
    image a page at +2 MiB instead of +42 MiB (measured); pypdf reads an object again if asked again."""
    cache = getattr(reader, "resolved_objects", None)
    if isinstance(cache, dict):
        cache.clear()


def video_duration(source: Decodable, container: Any, stream: Any) -> float | None:
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


def sample_frames(source: Decodable, options: ConvertOptions) -> list[tuple[float, bytes]]:
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


def count_pages(source: Decodable) -> int:
    from pypdf import PdfReader

    try:
        with source.reader() as handle:
            return len(PdfReader(handle).pages)
    except Exception:  # countTokens never fails on a PDF it cannot read; generateContent will say why
        return 0
