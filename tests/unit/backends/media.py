"""Real media for the backend tests, made on the spot: video and audio with PyAV, images with Pillow, PDFs
written object by object (so page count and text are known exactly)."""

from __future__ import annotations

import math
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def write_video(
    path: Path,
    seconds: float,
    *,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    audio: bool = True,
    codec: str = "libx264",
    gop: int | None = None,
) -> Path:
    """A video whose frame colour tells its time (red: second mod 32, green: tenth), with a 440 Hz tone."""
    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        video.codec_context.gop_size = gop or fps * 2
        if codec == "libx264":
            video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        tone = None
        if audio:
            tone = container.add_stream("aac", rate=16000)
            tone.layout = "mono"
        total = int(seconds * fps)
        frame_array = np.zeros((height, width, 3), dtype=np.uint8)
        samples_per_frame = 1024
        sample_index = 0
        for index in range(total):
            t = index / fps
            frame_array[:, :, 0] = int(t) % 32 * 8
            frame_array[:, :, 1] = int(t * 10) % 10 * 25
            frame_array[:, :, 2] = 128
            frame = av.VideoFrame.from_ndarray(frame_array, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
            while tone is not None and sample_index < (index + 1) * 16000 / fps:
                for packet in tone.encode(_tone_frame(sample_index, samples_per_frame, 16000)):
                    container.mux(packet)
                sample_index += samples_per_frame
        for packet in video.encode(None):
            container.mux(packet)
        if tone is not None:
            for packet in tone.encode(None):
                container.mux(packet)
    return path


def write_audio(path: Path, seconds: float, *, codec: str, rate: int = 44100, fmt: str | None = None) -> Path:
    """A 440 Hz tone in any container PyAV writes (wav: pcm_s16le, mp3: libmp3lame, flac, ogg: libopus)."""
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        per = 1152 if codec == "libmp3lame" else 960 if codec == "libopus" else 1024
        for start in range(0, int(seconds * rate), per):
            frame = _tone_frame(start, per, rate)
            if codec in ("libmp3lame", "libopus", "flac", "pcm_s16le"):
                frame = _to_format(frame, stream)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _tone_frame(start: int, count: int, rate: int) -> av.AudioFrame:
    t = (np.arange(start, start + count) / rate).astype(np.float32)
    samples = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = rate
    frame.pts = start
    frame.time_base = Fraction(1, rate)
    return frame


def _to_format(frame: av.AudioFrame, stream: av.AudioStream) -> av.AudioFrame:
    fmt = stream.codec_context.format.name if stream.codec_context.format else "s16"
    resampler = av.AudioResampler(format=fmt, layout="mono", rate=frame.sample_rate)
    out = resampler.resample(frame)[0]
    out.pts = frame.pts
    return out


def write_image(path: Path, fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Path:
    colour = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    Image.new(mode, size, colour).save(path, fmt)
    return path


def write_pdf(path: Path, pages: int, *, words_per_page: int = 40, image_kib: int = 0) -> Path:
    """A PDF of ``pages`` pages; page n says "Page n says hello" then filler words.

    ``image_kib`` > 0 adds an incompressible image of about that size to every page, so the file is big.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    pages_id = len(objects) + pages * (3 if image_kib else 2) + 1
    kids = []
    rng = np.random.default_rng(1)
    for number in range(1, pages + 1):
        words = " ".join(f"word{(number * 7 + i) % 97}" for i in range(words_per_page))
        lines = [f"Page {number} says hello", *(words[i : i + 80] for i in range(0, len(words), 80))]
        text = (
            b"BT /F1 11 Tf 40 780 Td 14 TL "
            + b" ".join(b"(" + line.encode() + b") Tj T*" for line in lines)
            + b" ET"
        )
        resources = b"/Font << /F1 %d 0 R >>" % font
        if image_kib:
            side = int(math.sqrt(image_kib * 1024 / 3))
            raw = rng.integers(0, 256, size=side * side * 3, dtype=np.uint8).tobytes()
            data = zlib.compress(raw, 1)
            image = add(
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
                % (side, side, len(data))
                + data
                + b"\nendstream"
            )
            resources += b" /XObject << /Im1 %d 0 R >>" % image
            text += b" q 200 0 0 200 40 300 cm /Im1 Do Q"
        content = add(b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream")
        page = add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << %s >> /Contents %d 0 R >>"
            % (pages_id, resources, content)
        )
        kids.append(page)
    assert (
        add(b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(b"%d 0 R" % k for k in kids)))
        == pages_id
    ), "page tree id"
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % index + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    path.write_bytes(bytes(out))
    return path
