"""What Google's service answers, as values the conformance tests compare against."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

NON_ASCII_NAME = "Résumé – 日本語のファイル 📄 «naïve» Ωmega"  # noqa: RUF001 - the point is non-ASCII
UNSUPPORTED_MIME = "bad/mime_type"


def sha256_hash_field(data: bytes) -> str:
    """File.sha256Hash: standard base64 of the lowercase *hex* SHA-256 text (WIRE.md 7.1)."""
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode("ascii")).decode("ascii")


def decoded_sha256(field: str | None) -> str:
    """The hex digest carried by a sha256Hash field."""
    assert field, "sha256Hash is missing"
    return base64.b64decode(field, validate=True).decode("ascii")


def permission_denied_message(name: str) -> str:
    """Google's message for a missing, foreign or deleted file; ``name`` is ``files/<id>``."""
    file_id = name.removeprefix("files/")
    return f"You do not have permission to access the File {file_id} or it may not exist."


def tiny_png() -> bytes:
    """A valid 1x1 RGBA PNG, built here so the test carries no binary fixture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
