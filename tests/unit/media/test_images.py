"""Images: width, height and format from the header; unreadable images stay ACTIVE with a probe_error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gemfiles.domain.models import FileState
from gemfiles.media.probe import probe_handle
from tests.unit.media import samples
from tests.unit.media.conftest import Probe


@pytest.mark.parametrize(
    ("fmt", "mime", "mode"),
    [
        ("PNG", "image/png", "RGB"),
        ("PNG", "image/png", "L"),
        ("JPEG", "image/jpeg", "RGB"),
        ("BMP", "image/bmp", "RGB"),
        ("TIFF", "image/tiff", "RGB"),
        ("GIF", "image/gif", "P"),
    ],
)
async def test_probe_image_reports_size_format_and_mode(
    probe_bytes: Probe, fmt: str, mime: str, mode: str
) -> None:
    data = samples.image(fmt, 123, 45, mode=mode, color=128 if mode in ("L", "P") else "red")

    state, facts, error = await probe_bytes(data, mime)

    assert state == FileState.ACTIVE and error is None
    assert facts == {"width": 123, "height": 45, "format": fmt, "mode": mode}


@pytest.mark.parametrize(
    ("save", "color", "mode"),
    [({"quality": 60}, "red", "RGB"), ({"lossless": True}, "red", "RGB"), ({}, (255, 0, 0, 100), "RGBA")],
    ids=["lossy", "lossless", "alpha"],
)
async def test_probe_webp_reads_its_chunks(probe_bytes: Probe, save: dict, color: object, mode: str) -> None:
    data = samples.image("WEBP", 321, 123, mode=mode, color=color, **save)

    _, facts, _ = await probe_bytes(data, "image/webp")

    assert facts == {"width": 321, "height": 123, "format": "WEBP", "mode": mode}


@pytest.mark.parametrize(("fmt", "mime"), [("GIF", "image/gif"), ("WEBP", "image/webp")])
async def test_probe_animation_says_so(probe_bytes: Probe, fmt: str, mime: str) -> None:
    _, facts, _ = await probe_bytes(samples.animated(fmt, 20, 10), mime)

    assert facts is not None
    assert (facts["width"], facts["height"], facts["animated"]) == (20, 10, True)


async def test_probe_jpeg_reports_exif_orientation(probe_bytes: Probe) -> None:
    picture = Image.new("RGB", (40, 20), "blue")
    exif = picture.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", exif=exif)

    _, facts, _ = await probe_bytes(buffer.getvalue(), "image/jpeg")

    assert facts is not None
    assert (facts["width"], facts["height"], facts["orientation"]) == (40, 20, 6)


async def test_probe_heic_reports_the_primary_image_not_a_tile_or_thumbnail(probe_bytes: Probe) -> None:
    data = samples.heif(4032, 3024, tile=(512, 512), thumb=(320, 240))

    state, facts, _ = await probe_bytes(data, "image/heic")

    assert state == FileState.ACTIVE
    assert facts == {"width": 4032, "height": 3024, "format": "HEIF"}


async def test_probe_huge_image_is_described_not_refused_as_a_bomb(probe_bytes: Probe) -> None:
    # 1.2 gigapixels: Image.open would refuse it, but only the header is read here.
    _, facts, _ = await probe_bytes(samples.png_header_only(40_000, 30_000), "image/png")

    assert facts is not None
    assert (facts["width"], facts["height"], facts["format"]) == (40_000, 30_000, "PNG")


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.furthest = 0

    def read(self, size: int | None = -1) -> bytes:
        block = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return block


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("WEBP", "image/webp"), ("JPEG", "image/jpeg")]
)
def test_probe_image_reads_only_the_header(fmt: str, mime: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format=fmt)
    handle = CountingReader(buffer.getvalue())
    assert len(buffer.getvalue()) > 500_000

    facts = probe_handle(handle, mime)

    assert (facts["width"], facts["height"]) == (1000, 1000)
    assert handle.furthest < 64 * 1024


@pytest.mark.parametrize(
    ("data", "mime", "reason"),
    [
        (b"just some text, not a picture\n" * 10, "image/png", "not a PNG, JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"cut short", "image/png", "PNG"),
        (b"RIFF\0\0\0\0WEBPVP8 " + bytes(40), "image/webp", "WEBP"),
        (samples.heif(100, 100)[:40], "image/heic", "HEIF"),
        (b"", "image/jpeg", "not a PNG, JPEG"),
    ],
    ids=["text-as-png", "truncated-png", "damaged-webp", "truncated-heic", "empty"],
)
async def test_probe_unreadable_image_stays_active_with_a_probe_error(
    probe_bytes: Probe, data: bytes, mime: str, reason: str
) -> None:
    state, facts, error = await probe_bytes(data, mime)

    assert state == FileState.ACTIVE and error is None
    assert facts is not None and set(facts) == {"probe_error"}
    assert reason in facts["probe_error"]
