"""Facts about video and audio, read with PyAV (the wheel ships FFmpeg).

How the bytes are read: ``av.open`` is given the blob store's blocking, seekable file object. PyAV wraps
it in an FFmpeg ``AVIOContext`` whose read and seek callbacks call ``handle.read(n)`` and ``handle.seek()``
with a buffer of ``IO_BUFFER`` bytes, so FFmpeg pulls only the blocks its demuxer asks for: the header,
the index (an MP4 whose ``moov`` sits at the end is read from there) and the first packets. Memory is
bounded by the container's own index and one decoded frame, never by the file's size. PyAV answers
FFmpeg's "how big is the file?" query with "unknown", so FFmpeg cannot estimate a duration from the size
(one more case the packet measurement below covers).

A file must open, have a stream of the kind its MIME type claims, and yield one decoded frame of it;
otherwise ``NotMedia`` says why and the file ends FAILED. A file whose codec this FFmpeg build has no
decoder for is accepted on its headers alone.

Duration: the container's, when it has one it knows. FFmpeg guesses it from the bit rate for raw
elementary streams (MP3 without a Xing header, ADTS AAC, ...) and has none at all for some files (a WebM
recorded live, with no ``Duration`` element); for those the packets are demuxed to the end (not decoded:
only packet headers are inspected) and the duration is the span of their timestamps, unless the header's
figure agrees with it (then the header's, which knows the encoder's padding, is kept).
"""

from __future__ import annotations

import errno
import io
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO

import av

from gemfiles.domain.mime import parameters, raw_pcm
from gemfiles.media.facts import Facts, NotMedia

IO_BUFFER = 256 * 1024
# Packets of the claimed stream tried before deciding that nothing in it decodes.
DECODE_PACKET_LIMIT = 250

# Demuxers whose duration FFmpeg estimates from the bit rate: measured by demuxing instead.
ESTIMATED_DURATION_FORMATS = frozenset(
    {"mp3", "aac", "ac3", "eac3", "dts", "loas", "amr", "h264", "hevc", "mpegvideo", "m4v", "truehd", "mlp"}
)

# A header duration within this fraction of the measured one (+0.1 s) is kept: it is the exact, gapless one.
DURATION_AGREEMENT = 0.05


def probe_av(handle: BinaryIO, kind: str, mime_type: str) -> Facts:
    """Facts about a video (``kind="video"``) or audio file; raises NotMedia if the bytes are not one."""
    fmt, options = _raw_input(mime_type)
    try:
        container = av.open(_Source(handle), mode="r", format=fmt, options=options, buffer_size=IO_BUFFER)
    except av.FFmpegError as exc:
        raise NotMedia(f"the bytes are not a readable {kind} file ({_reason(exc)})") from None
    with container:
        streams = [s for s in container.streams if s.type in ("video", "audio") and not _is_cover(s)]
        wanted = next((s for s in streams if s.type == kind), None)
        if wanted is None:
            found = ", ".join(sorted({s.type for s in streams})) or "none"
            raise NotMedia(f"the file has no {kind} stream (streams found: {found})")
        format_name = container.format.name
        header = _header_duration(container, streams)
        measure = header is None or bool(set(format_name.split(",")) & ESTIMATED_DURATION_FORMATS)
        scan = _scan(container, streams, wanted, measure)
        if not scan.decoded:
            raise NotMedia(f"no {kind} frame could be decoded ({scan.failure or 'the stream is empty'})")
        duration = _best_duration(header, scan.duration if measure else None)

        facts: Facts = {"container": format_name}
        if duration is not None:
            facts["duration_seconds"] = round(duration, 6)
        if container.bit_rate:
            facts["bit_rate"] = int(container.bit_rate)
        video = next((s for s in streams if s.type == "video"), None)
        audio = next((s for s in streams if s.type == "audio"), None)
        if video is not None:
            facts.update(_video_facts(video, scan))
        if audio is not None:
            facts.update(_audio_facts(audio))
        return facts


class _Source:
    """The blob reader as PyAV sees it. A demuxer probing garbage may seek before the start of the file; that
    is answered with FFmpeg's EINVAL, as a C file would, instead of an exception PyAV would re-raise.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            here = self._handle.tell()
            target = self._handle.seek(0, io.SEEK_END) + offset
            self._handle.seek(here)
        else:
            target = offset + (self._handle.tell() if whence == io.SEEK_CUR else 0)
        if target < 0:
            return -errno.EINVAL
        return self._handle.seek(target)

    def tell(self) -> int:
        return self._handle.tell()


@dataclass
class _Scan:
    decoded: bool = False
    failure: str | None = None
    duration: float | None = None
    packets: dict[int, int] = field(default_factory=dict)  # stream index -> packets with data
    rotation: int = 0
    frame_size: tuple[int, int] = (0, 0)


def _scan(container: Any, streams: list[Any], wanted: Any, measure: bool) -> _Scan:
    """Decodes the first frame of ``wanted``; with ``measure``, also demuxes to the end for the duration."""
    scan = _Scan()
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    tried = 0
    context = wanted.codec_context
    can_decode = context is not None and context.codec is not None and context.codec.is_decoder
    if can_decode:
        context.thread_count = 1  # one frame is all we decode: no thread pool, no frame queue
    else:
        scan.decoded = True  # nothing to decode it with: the headers are all we can check
    try:
        for packet in container.demux(streams):
            index = packet.stream.index
            if measure and packet.size:
                scan.packets[index] = scan.packets.get(index, 0) + 1
                start = packet.pts if packet.pts is not None else packet.dts
                if start is not None:
                    step = packet.duration or _frame_ticks(packet.stream)
                    first[index] = min(first.get(index, start), start)
                    last[index] = max(last.get(index, start + step), start + step)
            if not scan.decoded and index == wanted.index:
                tried += 1
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:
                    scan.failure = _reason(exc)
                    frames = []
                if frames:
                    scan.decoded = True
                    frame = frames[0]
                    if wanted.type == "video":
                        scan.rotation = int(getattr(frame, "rotation", 0) or 0)
                        scan.frame_size = (frame.width, frame.height)
                elif tried >= DECODE_PACKET_LIMIT:
                    break
            if scan.decoded and not measure:
                break
    except av.FFmpegError as exc:  # damaged in the middle: keep what was read before it
        if not scan.decoded:
            scan.failure = _reason(exc)
    if measure and last:
        spans = [
            (first[i] * _time_base(s), last[i] * _time_base(s)) for s in streams if (i := s.index) in last
        ]
        scan.duration = float(max(end for _, end in spans) - min(start for start, _ in spans))
    return scan


def _best_duration(header: float | None, measured: float | None) -> float | None:
    """The header's duration if the packets confirm it (it knows the encoder's padding), else the packets'."""
    if measured is None:
        return header
    if header is not None and abs(header - measured) <= DURATION_AGREEMENT * measured + 0.1:
        return header
    return measured


def _header_duration(container: Any, streams: list[Any]) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    durations = [float(s.duration * s.time_base) for s in streams if s.duration and s.time_base]
    return max(durations) if durations else None


def _video_facts(stream: Any, scan: _Scan) -> Facts:
    context = stream.codec_context
    facts: Facts = {"video_codec": _codec_name(stream)}
    width, height = (context.width, context.height) if context is not None else (0, 0)
    if not width or not height:
        width, height = scan.frame_size
    if width and height:
        facts["width"], facts["height"] = width, height
    rate = stream.average_rate or stream.guessed_rate
    if rate:
        facts["fps"] = round(float(rate), 3)
    frames = stream.frames or scan.packets.get(stream.index, 0)
    if frames:
        facts["frames"] = int(frames)
    if scan.rotation:
        facts["rotation"] = scan.rotation
    return facts


def _audio_facts(stream: Any) -> Facts:
    context = stream.codec_context
    facts: Facts = {"audio_codec": _codec_name(stream)}
    if context is not None:
        if context.sample_rate:
            facts["sample_rate"] = int(context.sample_rate)
        if context.channels:
            facts["channels"] = int(context.channels)
    return facts


def _codec_name(stream: Any) -> str:
    """FFmpeg's name for the codec (``mp3``), not its decoder's (``mp3float``)."""
    context = stream.codec_context
    if context is None or context.codec is None:
        return "unknown"
    return str(context.codec.canonical_name)


def _raw_input(mime_type: str) -> tuple[str | None, dict[str, str]]:
    raw = raw_pcm(mime_type)
    if raw is None:
        return None, {}
    demuxer, default_rate = raw.demuxer, raw.default_rate
    params = parameters(mime_type)
    rate = params.get("rate", "")
    channels = params.get("channels", "")
    return demuxer, {
        "sample_rate": rate if rate.isdigit() and int(rate) > 0 else str(default_rate),
        "ch_layout": f"{int(channels)}c" if channels.isdigit() and 0 < int(channels) <= 64 else "mono",
    }


def _is_cover(stream: Any) -> bool:
    """Album art in an audio file shows up as a one-picture video stream."""
    return stream.type == "video" and bool(stream.disposition & av.stream.Disposition.attached_pic)


def _frame_ticks(stream: Any) -> int:
    """One frame's length in the stream's time base, for packets that carry no duration."""
    rate = getattr(stream, "average_rate", None)
    if stream.type != "video" or not rate or not stream.time_base:
        return 0
    return max(0, round(1 / (Fraction(rate) * stream.time_base)))


def _time_base(stream: Any) -> Fraction:
    return Fraction(stream.time_base) if stream.time_base else Fraction(1, av.time_base)


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc.__class__.__name__)
