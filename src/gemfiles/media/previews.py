"""Thumbnails for the console, made in a probe child (``isolated.run_isolated``), never in the server.

What a file's picture is, by kind:

* image: the image itself, EXIF-rotated, at most ``SIZE`` pixels on its longer side (JPEG; PNG when it
  has transparency). HEIF has no decoder here and gets none.
* video: one frame (about a tenth of the way in, at most ``VIDEO_SEEK_SECONDS``), decoded by PyAV.
* PDF: no library here renders PDF pages (pypdf reads structure and text, Pillow only writes PDFs), so the
  picture is a *sketch* of page 1: its text, as pypdf extracts it, drawn on a page-shaped white card, or
  the page's largest embedded image when it has no text (a scan). ``Preview.note`` says so.

The child writes the picture into the preview cache (a directory; one file per stored object, named by a
digest of its blob key) and answers only its media type and note; the server reads the file back. A file
whose bytes give no picture is remembered too (an empty ``.none`` file), so the child runs once per object.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path
from typing import Any, BinaryIO

from gemfiles.domain.mime import file_kind
from gemfiles.domain.models import FileRecord
from gemfiles.domain.ports import Preview
from gemfiles.media.isolated import ProbeFailed, blob_store, run_isolated

SIZE = 320
VIDEO_SEEK_SECONDS = 5.0
PREVIEW_KINDS = frozenset({"image", "video", "pdf"})
# Children making previews at once: a page of thumbnails must not start a child per image.
CONCURRENT_CHILDREN = 2
PDF_CARD = (248, 320)
PDF_TEXT_CHARS = 1200


class IsolatedPreviewer:
    """The domain's ``Previewer``: each picture made once, in a child, and kept in ``cache_dir``."""

    def __init__(self, blob_url: str, cache_dir: Path, timeout: float, memory_mib: int | None = None) -> None:
        self.blob_url = blob_url
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.memory_mib = memory_mib
        self._children = asyncio.Semaphore(CONCURRENT_CHILDREN)

    def can_preview(self, mime_type: str) -> bool:
        return file_kind(mime_type) in PREVIEW_KINDS

    async def preview(self, record: FileRecord) -> Preview | None:
        if not self.can_preview(record.mime_type):
            return None
        stem = self.cache_dir / hashlib.sha256(record.blob_key.encode()).hexdigest()[:40]
        kept = _cached(stem)
        if kept is not None:
            return kept if isinstance(kept, Preview) else None
        async with self._children:
            kept = _cached(stem)  # another request may have made it while this one waited
            if kept is not None:
                return kept if isinstance(kept, Preview) else None
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                await asyncio.to_thread(
                    run_isolated,
                    make_preview,
                    record,
                    self.blob_url,
                    str(stem),
                    timeout=self.timeout,
                    memory_mib=self.memory_mib,
                )
            except (ProbeFailed, OSError, RuntimeError):
                pass  # a child that died, or bytes no decoder reads: no picture
            kept = _cached(stem)
            if not isinstance(kept, Preview):
                stem.with_suffix(".none").touch()
                return None
            return kept


def _cached(stem: Path) -> Preview | bool | None:
    """The kept picture; False when the file is known to give none; None when it was never tried."""
    for suffix, media_type in ((".jpg", "image/jpeg"), (".png", "image/png")):
        path = stem.with_suffix(suffix)
        if path.exists():
            note_path = stem.with_suffix(".note")
            note = note_path.read_text() if note_path.exists() else None
            return Preview(media_type, path.read_bytes(), note)
    if stem.with_suffix(".none").exists():
        return False
    return None


# In the child -------------------------------------------------------------------------------------------


def make_preview(record: FileRecord, blob_url: str, stem: str) -> str | None:
    """Writes the picture of a stored file to ``stem`` + ``.jpg``/``.png`` (run in the child)."""
    kind = file_kind(record.mime_type)
    with blob_store(blob_url).reader(record.blob_key) as handle:
        if kind == "image":
            image, note = _image(handle), None
        elif kind == "video":
            image, note = _video_frame(handle), None
        else:
            image, note = _pdf_sketch(handle)
    if image is None:
        return None
    return _save(image, stem, note)


def _save(image: Any, stem: str, note: str | None) -> str:
    image.thumbnail((SIZE, SIZE))
    alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if alpha else "RGB")
    suffix = ".png" if alpha else ".jpg"
    buffer = io.BytesIO()
    image.save(buffer, "PNG" if alpha else "JPEG", quality=82)
    if note:
        Path(stem + ".note").write_text(note)
    partial = stem + suffix + ".part"
    Path(partial).write_bytes(buffer.getvalue())
    os.replace(partial, stem + suffix)  # readers never see half a picture
    return suffix


def _image(handle: BinaryIO) -> Any:
    from PIL import Image, ImageOps

    image = Image.open(handle)
    image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a fraction of the size
    image.load()
    return ImageOps.exif_transpose(image)


def _video_frame(handle: BinaryIO) -> Any:
    import av

    from gemfiles.media.audiovisual import IO_BUFFER, _Source

    with av.open(_Source(handle), mode="r", buffer_size=IO_BUFFER) as container:
        stream = next((s for s in container.streams.video), None)
        if stream is None:
            return None
        if container.duration and container.duration > 0:
            seconds = min(VIDEO_SEEK_SECONDS, container.duration / av.time_base / 10)
            try:
                container.seek(int(seconds * av.time_base), any_frame=False)
            except av.FFmpegError:
                container.seek(0)
        for frame in container.decode(stream):
            return frame.to_image()
    return None


def _pdf_sketch(handle: BinaryIO) -> tuple[Any, str | None]:
    from PIL import Image, ImageDraw, ImageFont
    from pypdf import PdfReader

    from gemfiles.media.documents import PDF_READ_LIMIT
    from gemfiles.media.facts import BoundedReads

    reader = PdfReader(BoundedReads(handle, PDF_READ_LIMIT))  # type: ignore[arg-type]
    page = reader.pages[0]
    pages = len(reader.pages)
    text = " ".join((page.extract_text() or "").split())[:PDF_TEXT_CHARS]
    if not text:
        images = sorted(page.images, key=lambda found: len(found.data), reverse=True)
        if images:
            return images[0].image, f"page 1 of {pages}: its largest image (no text on it)"
        return None, None
    card = Image.new("RGB", PDF_CARD, "white")
    draw = ImageDraw.Draw(card)
    font = ImageFont.load_default(size=11)
    draw.rectangle((0, 0, PDF_CARD[0] - 1, PDF_CARD[1] - 1), outline=(200, 200, 200))
    y = 10
    for line in _wrap(draw, font, text, PDF_CARD[0] - 20):
        if y > PDF_CARD[1] - 20:
            break
        draw.text((10, y), line, fill=(40, 40, 40), font=font)
        y += 14
    return card, f"page 1 of {pages}: its text, drawn (no PDF renderer is installed)"


def _wrap(draw: Any, font: Any, text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines
