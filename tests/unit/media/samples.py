"""Real media made on the spot: PyAV encodes video and audio, Pillow writes images, PDFs are hand-made.

Every generator returns the file's bytes and takes the parameters the tests assert on, so an expected fact
is never a magic number copied from a probe's output.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
from PIL import Image


class _Unseekable(io.RawIOBase):
    """A sink FFmpeg cannot seek back in, as when a browser or a camera streams a recording."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, block: bytes) -> int:  # type: ignore[override]
        self.data += block
        return len(block)


def _tone(start: int, count: int, rate: int, channels: int, volume: float = 0.3) -> np.ndarray:
    t = np.arange(start, start + count) / rate
    wave = (np.sin(2 * np.pi * 440 * t) * volume).astype(np.float32)
    return np.stack([wave] * channels)


def _noise(start: int, count: int, rate: int, channels: int) -> np.ndarray:
    generator = np.random.default_rng(start)
    return (generator.uniform(-0.9, 0.9, (channels, count))).astype(np.float32)


def _audio_frame(samples: np.ndarray, fmt: str, layout: str, rate: int, pts: int) -> av.AudioFrame:
    scale = {"flt": 1.0, "fltp": 1.0, "s16": 32767, "s16p": 32767, "s32": 2**30, "s32p": 2**30}[fmt]
    dtype = {"flt": np.float32, "s16": np.int16, "s32": np.int32}[fmt.removesuffix("p")]
    data = samples if fmt.endswith("p") else samples.T.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(data * scale).astype(dtype), format=fmt, layout=layout
    )
    frame.sample_rate = rate
    frame.pts = pts
    return frame


Signal = Callable[[int, int, int, int], np.ndarray]


def _encode_audio(
    out: av.container.OutputContainer,
    stream: av.AudioStream,
    seconds: float,
    rate: int,
    channels: int,
    signal: Signal = _tone,
) -> None:
    layout = "stereo" if channels == 2 else "mono"
    size = stream.codec_context.frame_size or 1024
    total = round(seconds * rate)
    fmt = stream.codec_context.format.name
    pts = 0
    while pts < total:
        count = min(size, total - pts)
        for packet in stream.encode(_audio_frame(signal(pts, count, rate, channels), fmt, layout, rate, pts)):
            out.mux(packet)
        pts += count
    for packet in stream.encode():
        out.mux(packet)


def video(
    container: str = "mp4",
    codec: str = "mpeg4",
    audio_codec: str | None = "aac",
    seconds: float = 2.0,
    fps: int = 25,
    width: int = 64,
    height: int = 48,
    sample_rate: int = 44100,
    seekable: bool = True,
) -> bytes:
    """A video with a moving grey level and, optionally, a 440 Hz stereo tone of the same length."""
    sink: io.BytesIO | _Unseekable = io.BytesIO() if seekable else _Unseekable()
    with av.open(sink, "w", format=container) as out:
        picture = out.add_stream(codec, rate=fps)
        picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio_codec:
            sound = out.add_stream(audio_codec, rate=sample_rate)
            sound.layout = "stereo"
        for index in range(round(seconds * fps)):
            pixels = np.full((height, width, 3), (index * 7) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in picture.encode(frame):
                out.mux(packet)
        for packet in picture.encode():
            out.mux(packet)
        if sound is not None:
            _encode_audio(out, sound, seconds, sample_rate, 2)
    return sink.getvalue() if isinstance(sink, io.BytesIO) else bytes(sink.data)


def audio(
    container: str,
    codec: str,
    seconds: float,
    sample_rate: int = 44100,
    channels: int = 2,
    seekable: bool = True,
    noisy: bool = False,
    bit_rate: int | None = None,
) -> bytes:
    sink: io.BytesIO | _Unseekable = io.BytesIO() if seekable else _Unseekable()
    with av.open(sink, "w", format=container) as out:
        stream = out.add_stream(codec, rate=sample_rate)
        stream.layout = "stereo" if channels == 2 else "mono"
        if bit_rate:
            stream.bit_rate = bit_rate
        _encode_audio(out, stream, seconds, sample_rate, channels, _noise if noisy else _tone)
    return sink.getvalue() if isinstance(sink, io.BytesIO) else bytes(sink.data)


def image(
    fmt: str, width: int, height: int, mode: str = "RGB", color: object = "red", **save: object
) -> bytes:
    picture = Image.new(mode, (width, height), color)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def animated(fmt: str, width: int, height: int, colors: tuple[str, ...] = ("red", "green", "blue")) -> bytes:
    """An animation (GIF or WEBP) with one frame per colour."""
    pictures = [Image.new("RGB", (width, height), color) for color in colors]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format=fmt, save_all=True, append_images=pictures[1:], duration=100)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a huge image, with a token IDAT: enough for any header reader."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + body)


def heif(
    width: int, height: int, tile: tuple[int, int] = (512, 512), thumb: tuple[int, int] = (320, 240)
) -> bytes:
    """An ISO-BMFF HEIC laid out as phones write them: a grid item (the picture) made of tiles, a thumbnail.

    Property 1 is the tiles' extent, 2 the thumbnail's, 3 the grid's; item 1 (primary) is the grid.
    """
    ftyp = _box(b"ftyp", b"heic" + b"\0\0\0\0" + b"mif1heic")
    pitm = _full_box(b"pitm", 0, 0, struct.pack(">H", 1))
    extents = [tile, thumb, (width, height)]
    ipco = _box(b"ipco", b"".join(_full_box(b"ispe", 0, 0, struct.pack(">II", w, h)) for w, h in extents))
    # item 1 -> property 3 (essential); item 2 (a tile) -> property 1; item 3 (thumbnail) -> property 2
    entries = [(1, 3), (2, 1), (3, 2)]
    ipma_body = struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">HB", item, 1) + bytes([0x80 | prop]) for item, prop in entries
    )
    iprp = _box(b"iprp", ipco + _full_box(b"ipma", 0, 0, ipma_body))
    hdlr = _full_box(b"hdlr", 0, 0, b"\0\0\0\0pict" + b"\0" * 12 + b"\0")
    meta = _full_box(b"meta", 0, 0, hdlr + pitm + iprp)
    return ftyp + meta + _box(b"mdat", b"\0" * 64)


def pdf(pages: list[str | None], inherit_resources: bool = False, title: str | None = None) -> bytes:
    """A PDF with one page per entry: its lines of text (``\\n``-separated) in Helvetica, or no text.

    Assembled object by object with a correct cross-reference table. With ``inherit_resources`` the font is
    declared once on the page tree's root and every page inherits it, as many generators do.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    resources = f"<< /Font << /F1 {font} 0 R >> >>".encode()
    pages_id = len(objects) + 1 + 2 * len(pages) + (1 if title else 0) + 1
    kids = []
    for text in pages:
        ops = b""
        if text is not None:
            lines = text.split("\n")
            ops = (
                b"BT /F1 12 Tf 72 720 Td 14 TL "
                + b" ".join(
                    b"("
                    + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")
                    + b") '"
                    for line in lines
                )
                + b" ET"
            )
        content = add(b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"\nendstream")
        own = b"" if inherit_resources else b" /Resources " + resources
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R%s >>"
                % (pages_id, content, own)
            )
        )
    info = add(f"<< /Title ({title}) >>".encode("latin-1")) if title else None
    inherited = b" /Resources " + resources if inherit_resources else b""
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    kid_refs = b" ".join(b"%d 0 R" % kid for kid in kids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d%s >>" % (kid_refs, len(kids), inherited)) == pages_id

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
