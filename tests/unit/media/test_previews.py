"""Previews for the console, made in child processes and kept in a cache directory."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from PIL import Image

from gemfiles.domain.ports import Previewer
from gemfiles.media.previews import SIZE, IsolatedPreviewer
from gemfiles.storage.localdisk import LocalBlobStore
from tests.support import ROOT
from tests.unit.media import samples
from tests.unit.media.conftest import Store


def previewer(blobs: LocalBlobStore, tmp_path: Path) -> IsolatedPreviewer:
    made = IsolatedPreviewer(blobs.url, tmp_path / "previews", timeout=60)
    assert isinstance(made, Previewer)
    return made


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_preview_of_an_image_is_a_thumbnail_no_larger_than_its_size(
    store: Store, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    record = await store(samples.image("JPEG", 1200, 800), "image/jpeg")
    found = await previewer(blobs, tmp_path).preview(record)
    assert found is not None and found.media_type == "image/jpeg" and found.note is None
    assert picture(found.data).size == (SIZE, round(SIZE * 800 / 1200))


async def test_preview_of_a_transparent_png_stays_a_png(
    store: Store, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (50, 40), (255, 0, 0, 128)).save(out, "PNG")
    found = await previewer(blobs, tmp_path).preview(await store(out.getvalue(), "image/png"))
    assert found is not None and found.media_type == "image/png"
    assert picture(found.data).size == (50, 40)


async def test_preview_of_a_video_is_one_of_its_frames(
    store: Store, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    record = await store(samples.video(width=160, height=120, seconds=1.0), "video/mp4")
    found = await previewer(blobs, tmp_path).preview(record)
    assert found is not None and picture(found.data).size == (160, 120)


async def test_preview_of_a_pdf_draws_its_first_pages_text_and_says_so(
    store: Store, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    record = await store(samples.pdf(["Quarterly report", "second page"]), "application/pdf")
    found = await previewer(blobs, tmp_path).preview(record)
    assert found is not None and found.note is not None
    assert "page 1 of 2" in found.note and "text" in found.note
    assert picture(found.data).size[0] > 100


async def test_preview_is_made_once_then_read_from_the_cache(
    store: Store, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    record = await store(samples.image("PNG", 64, 64), "image/png")
    first = await previewer(blobs, tmp_path).preview(record)
    await blobs.delete(record.blob_key)  # a second child could not read the bytes any more
    again = await previewer(blobs, tmp_path).preview(record)
    assert first is not None and again == first


async def test_bytes_that_are_no_picture_give_none_and_are_not_tried_twice(
    store: Store, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    record = await store(b"not an image at all", "image/png")
    made = previewer(blobs, tmp_path)
    assert await made.preview(record) is None
    assert list((tmp_path / "previews").glob("*.none"))
    assert await made.preview(record) is None


async def test_audio_and_text_get_no_preview_and_start_no_child(
    store: Store, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    made = previewer(blobs, tmp_path)
    assert not made.can_preview("audio/mpeg") and not made.can_preview("text/plain")
    assert await made.preview(await store(b"hello", "text/plain")) is None
    assert not (tmp_path / "previews").exists()


PREVIEW_IN_A_SERVER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from gemfiles.app import create_app
from gemfiles.domain.models import FileRecord
from gemfiles.settings import Settings
from tests.support import PartNumber

async def main(data_dir: str, data: bytes) -> None:
    services = create_app(Settings(data_dir=data_dir)).state.services
    blobs = services.blobs
    state = await blobs.begin_upload("u1")

    async def blocks():
        yield data

    part = await blobs.put_part("u1", state, PartNumber(1), blocks(), len(data))
    key = await blobs.complete_upload("u1", state, [part])
    now = datetime.now(UTC)
    record = FileRecord("p", "f1", "image/png", len(data), "0" * 64, now, now, now + timedelta(hours=1), key)
    assert await services.inventory.previewer.preview(record) is not None, "no preview"

asyncio.run(main(sys.argv[1], Path(sys.argv[2]).read_bytes()))
print(sorted(name for name in ("PIL.Image", "av", "pypdf") if name in sys.modules))
"""


def test_making_a_preview_leaves_the_decoders_out_of_the_calling_process(tmp_path: Path) -> None:
    """The server builds the app and asks for a thumbnail: Pillow, PyAV and pypdf load only in the child."""
    source = tmp_path / "in.png"
    source.write_bytes(samples.image("PNG", 400, 300))
    done = subprocess.run(
        [sys.executable, "-c", PREVIEW_IN_A_SERVER, str(tmp_path / "data"), str(source)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
