"""The MIME type of an upload that named none, from its first bytes (the ``filetype`` library's magic
numbers, pure Python).

The Go SDK's ``Files.Upload(ctx, reader, nil)`` sends an empty ``X-Goog-Upload-Header-Content-Type``;
Google stores such uploads. So does gemfiles: a file without a type, or typed
``application/octet-stream``, takes the type its bytes show when that is a supported one (PNG, PDF, MP3,
MP4, ...), and is otherwise stored as ``application/octet-stream`` (usable by no model call: those answer
``400 Unsupported MIME type: application/octet-stream``, as Google does for types it cannot read).
"""

from __future__ import annotations

import filetype  # type: ignore[import-untyped]

from gemfiles.domain.mime import base_type, is_supported

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 8192
# filetype's names for types this server spells otherwise.
_ALIASES = {"audio/x-wav": "audio/wav", "audio/x-flac": "audio/flac", "video/quicktime": "video/quicktime"}


def is_untyped(mime_type: str) -> bool:
    return base_type(mime_type) in ("", OCTET_STREAM)


def sniff_mime(head: bytes) -> str | None:
    """A supported MIME type for bytes that start with ``head``, or None."""
    guessed = filetype.guess_mime(head)
    if not guessed:
        return None
    guessed = _ALIASES.get(guessed, guessed)
    return guessed if is_supported(guessed) else None
