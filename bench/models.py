"""The model-call benchmark: time to first byte of generateContent with a 1 GiB video attached.

The inspector reads the facts stored at upload, never the bytes, so the answer's first byte should not
depend on the size of the file attached.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.files_api import resumable_upload


def make_raw_video(path: Path, size: int) -> float:
    """A real Matroska file of uncompressed 640x480 video, about ``size`` bytes; returns its duration."""
    import av
    import numpy as np

    frame_bytes = 640 * 480 * 3 // 2
    frames = max(1, size // frame_bytes)
    pixels = np.random.default_rng(7).integers(0, 255, (480 * 3 // 2, 640), dtype=np.uint8)
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return frames / 25


def upload_path(base_url: str, key: str, path: Path, mime_type: str) -> tuple[str, float]:
    size = path.stat().st_size
    with open(path, "rb") as source:

        def read(offset: int, length: int) -> bytes:
            source.seek(offset)
            return source.read(length)

        return resumable_upload(base_url, key, size, mime_type, read)


def wait_active(base_url: str, key: str, name: str, timeout: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        state = httpx.get(f"{base_url}/v1beta/{name}", headers={"x-goog-api-key": key}).json()["state"]
        if state == "ACTIVE":
            return time.perf_counter() - started
        if state == "FAILED":
            raise RuntimeError(f"{name} failed processing")
        time.sleep(0.05)
    raise TimeoutError(name)


def time_to_first_byte(
    base_url: str, key: str, uri: str, mime_type: str, *, stream: bool, runs: int = 20
) -> float:
    """Median milliseconds from sending the request to the first byte of the answer's body."""
    parts = urlsplit(base_url)
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = json.dumps(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"fileData": {"fileUri": uri, "mimeType": mime_type}},
                        {"text": "Describe this"},
                    ],
                }
            ]
        }
    ).encode()
    head = (
        f"POST /v1beta/models/gemini-2.5-flash:{method} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"x-goog-api-key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    samples = []
    for _ in range(runs):
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            started = time.perf_counter()
            sock.sendall(head + body)
            received = b""
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            if not received.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(received[:300].decode(errors="replace"))
            if not received.split(b"\r\n\r\n", 1)[1]:
                sock.recv(1)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench_model_ttfb(base_url: str, key: str, work: Path, size: int) -> list[tuple[str, str, str]]:
    video = work / "big.mkv"
    duration = make_raw_video(video, size)
    name, upload_seconds = upload_path(base_url, key, video, "video/x-matroska")
    probe_seconds = wait_active(base_url, key, name)
    real_size = video.stat().st_size
    os.unlink(video)
    uri = httpx.get(f"{base_url}/v1beta/{name}", headers={"x-goog-api-key": key}).json()["uri"]
    label = f"{real_size / 2**30:.2f} GiB video ({duration:.0f} s)"
    unary = time_to_first_byte(base_url, key, uri, "video/x-matroska", stream=False)
    streamed = time_to_first_byte(base_url, key, uri, "video/x-matroska", stream=True)
    return [
        (
            f"probe after upload, {label}",
            f"{probe_seconds * 1000:,.0f} ms",
            f"PROCESSING -> ACTIVE; upload {real_size / upload_seconds / 1e6:,.0f} MB/s",
        ),
        (
            f"generateContent TTFB, inspect, {label}",
            f"{unary:,.1f} ms",
            "median of 20; target < 50 ms + probe",
        ),
        (f"streamGenerateContent TTFB, inspect, {label}", f"{streamed:,.1f} ms", "median of 20"),
    ]
