"""Small, real media files for the model-call tests, made on the fly (stdlib ``wave``, PyAV, Pillow)."""

from __future__ import annotations

import io
import math
import struct
import time
import wave
from fractions import Fraction

from google import genai
from google.genai import types


def wav(seconds: float = 1.5, rate: int = 16000) -> bytes:
    """A mono 16-bit PCM WAV of a 440 Hz tone."""
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples)
    return buffer.getvalue()


def png(width: int = 4, height: int = 3) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def mp4(seconds: int = 2, fps: int = 10, width: int = 64, height: int = 48) -> bytes:
    """An MPEG-4 video (no audio) of ``seconds`` at ``fps``."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for n in range(seconds * fps):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(n * 7) % 256]) * plane.buffer_size)
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def pdf(pages: list[str]) -> bytes:
    """A PDF with one line of Helvetica text per page."""
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree (filled in below)
    font = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for text in pages:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        content = f"BT /F1 12 Tf 20 100 Td ({escaped}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
        contents_number = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (contents_number, font)
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def wait_until_processed(client: genai.Client, name: str, timeout: float = 30.0) -> types.File:
    """Polls files.get until the file leaves PROCESSING, as Google's samples do."""
    deadline = time.monotonic() + timeout
    while True:
        file = client.files.get(name=name)
        if file.state is None or file.state.name != "PROCESSING" or time.monotonic() > deadline:
            return file
        time.sleep(0.05)


async def await_processed(client: genai.client.AsyncClient, name: str) -> types.File:
    import asyncio

    deadline = time.monotonic() + 30.0
    while True:
        file = await client.files.get(name=name)
        if file.state is None or file.state.name != "PROCESSING" or time.monotonic() > deadline:
            return file
        await asyncio.sleep(0.05)
