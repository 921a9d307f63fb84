"""Facts about images: width, height and format, read from the header only.

PNG, JPEG, GIF, BMP and TIFF go through Pillow's format plugins, which parse the header and stop (no pixel
is decoded). Pillow's WebP plugin reads the whole file into memory before it looks at it, and Pillow has
no HEIF support, so both are read here from their container headers instead (RIFF chunks for WebP, the
ISO-BMFF ``meta`` box for HEIC/HEIF).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from PIL import BmpImagePlugin, GifImagePlugin, Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from gemfiles.media.facts import Facts, NotMedia

# Pillow formats opened through their plugins (the modules are imported for their registrations).
PILLOW_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF")
_PLUGINS = (BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin)

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"})
# The ``meta`` box holds item properties, not pixels; anything bigger than this is not a sane header.
HEIF_META_LIMIT = 16 * 1024 * 1024
EXIF_ORIENTATION = 0x0112


def probe_image(handle: BinaryIO) -> Facts:
    head = handle.read(32)
    handle.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(handle)
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return _heif(handle)
    return _pillow(handle, head[:16])


def _pillow(handle: BinaryIO, prefix: bytes) -> Facts:
    # Image.open would do the same walk over the plugins, then refuse very large images as decompression
    # bombs; only the header is read here, so a 30,000-pixel-wide scan is described, not refused.
    for name in PILLOW_FORMATS:
        factory, accept = Image.OPEN[name]
        verdict = accept(prefix) if accept else True
        if not verdict or isinstance(verdict, str):
            continue
        handle.seek(0)
        try:
            image = factory(handle, "")
        except (SyntaxError, IndexError, TypeError, ValueError, struct.error, EOFError, OSError) as exc:
            raise NotMedia(f"not a readable {name} image ({exc})") from None
        facts: Facts = {"width": image.width, "height": image.height}
        facts.update(format=image.format, mode=image.mode)
        if getattr(image, "is_animated", False):
            facts["animated"] = True
        orientation = _orientation(image)
        if orientation not in (None, 1):
            facts["orientation"] = orientation
        return facts
    raise NotMedia("not a PNG, JPEG, GIF, BMP, TIFF, WebP or HEIF image")


def _orientation(image: Image.Image) -> int | None:
    if image.format not in ("JPEG", "MPO", "TIFF"):
        return (
            None  # their EXIF is in the header; a PNG's may follow the pixels, and Pillow would decode them
        )
    try:
        value = image.getexif().get(EXIF_ORIENTATION)
    except Exception:  # a damaged EXIF block does not make the image unreadable
        return None
    return int(value) if isinstance(value, int) else None


def _webp(handle: BinaryIO) -> Facts:
    """RIFF 'WEBP' then one of: VP8X (extended), VP8L (lossless), 'VP8 ' (lossy), each with the size."""
    data = handle.read(12 + 8 + 30)
    fourcc, chunk = data[12:16], data[20:]
    if fourcc == b"VP8X" and len(chunk) >= 10:
        flags = chunk[0]
        width = 1 + int.from_bytes(chunk[4:7], "little")
        height = 1 + int.from_bytes(chunk[7:10], "little")
        alpha = bool(flags & 0x10)
        mode = "RGBA" if alpha else "RGB"
        facts: Facts = {"width": width, "height": height, "format": "WEBP", "mode": mode}
        if flags & 0x02:
            facts["animated"] = True
        return facts
    if fourcc == b"VP8L" and len(chunk) >= 5 and chunk[0] == 0x2F:
        bits = int.from_bytes(chunk[1:5], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        alpha = bool(bits >> 28 & 1)
        return {"width": width, "height": height, "format": "WEBP", "mode": "RGBA" if alpha else "RGB"}
    if fourcc == b"VP8 " and len(chunk) >= 10 and chunk[3:6] == b"\x9d\x01\x2a":
        width = int.from_bytes(chunk[6:8], "little") & 0x3FFF
        height = int.from_bytes(chunk[8:10], "little") & 0x3FFF
        return {"width": width, "height": height, "format": "WEBP", "mode": "RGB"}
    raise NotMedia("not a readable WEBP image (no VP8, VP8L or VP8X chunk where one should be)")


def _heif(handle: BinaryIO) -> Facts:
    """The primary item's ``ispe`` (image spatial extent) property, found through ``pitm`` and ``ipma``."""
    meta = _find_box(handle, b"meta", HEIF_META_LIMIT)
    if meta is None:
        raise NotMedia("not a readable HEIF image (no meta box)")
    children = _boxes(meta[4:])  # meta is a full box: version and flags first
    primary = None
    if b"pitm" in children:
        pitm = children[b"pitm"][0]
        primary = struct.unpack(">H", pitm[4:6])[0] if pitm[0] == 0 else struct.unpack(">I", pitm[4:8])[0]
    iprp = _boxes(children.get(b"iprp", [b""])[0])
    properties = _box_list(iprp.get(b"ipco", [b""])[0])
    extents: dict[int, tuple[int, int]] = {}  # 1-based property index -> (width, height)
    for index, (kind, body) in enumerate(properties, start=1):
        if kind == b"ispe" and len(body) >= 12:
            extents[index] = struct.unpack(">II", body[4:12])
    if not extents:
        raise NotMedia("not a readable HEIF image (no image extent property)")
    size = None
    for ipma in iprp.get(b"ipma", []):
        for item, indices in _associations(ipma):
            if item == primary:
                size = next((extents[i] for i in indices if i in extents), None)
    if size is None:  # no usable association: the largest extent is the full image, not a tile or thumbnail
        size = max(extents.values(), key=lambda wh: wh[0] * wh[1])
    return {"width": size[0], "height": size[1], "format": "HEIF"}


def _find_box(handle: BinaryIO, kind: bytes, limit: int) -> bytes | None:
    """The body of the first top-level box of ``kind``, skipping the others without reading them."""
    handle.seek(0)
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return None
        size, box = struct.unpack(">I4s", header)
        skip = 8
        if size == 1:
            size = struct.unpack(">Q", handle.read(8))[0]
            skip = 16
        if box == kind:
            length = size - skip if size else limit
            if length > limit:
                raise NotMedia(f"not a readable HEIF image ({kind.decode()} box over {limit} bytes)")
            return handle.read(length)
        if size == 0:
            return None
        if size < skip:
            raise NotMedia("not a readable HEIF image (damaged box sizes)")
        handle.seek(size - skip, 1)


def _box_list(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1 and offset + 16 <= len(data):
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = len(data) - offset
        if size < header or offset + size > len(data):
            break
        out.append((kind, data[offset + header : offset + size]))
        offset += size
    return out


def _boxes(data: bytes) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for kind, body in _box_list(data):
        out.setdefault(kind, []).append(body)
    return out


def _associations(ipma: bytes) -> list[tuple[int, list[int]]]:
    """ItemPropertyAssociationBox: for each item, the 1-based indices of its properties in ``ipco``."""
    version, flags = ipma[0], int.from_bytes(ipma[1:4], "big")
    offset = 4
    (count,) = struct.unpack(">I", ipma[offset : offset + 4])
    offset += 4
    out = []
    for _ in range(count):
        if version < 1:
            (item,) = struct.unpack(">H", ipma[offset : offset + 2])
            offset += 2
        else:
            (item,) = struct.unpack(">I", ipma[offset : offset + 4])
            offset += 4
        n = ipma[offset]
        offset += 1
        indices = []
        for _ in range(n):
            if flags & 1:
                indices.append(struct.unpack(">H", ipma[offset : offset + 2])[0] & 0x7FFF)
                offset += 2
            else:
                indices.append(ipma[offset] & 0x7F)
                offset += 1
        out.append((item, indices))
    return out
