"""File ids and upload tokens.

Generated file ids are 12 lowercase alphanumerics like Google's (``files/azucr4abxgje``): the SDKs cut a
URI-derived id at the first character outside ``[a-z0-9]``, so generated ids never contain ``-``.
Client-chosen ids follow Google's rule: up to 40 lowercase alphanumerics or dashes, not starting or ending
with a dash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable

from gemfiles.errors import InvalidArgument

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
CUSTOM_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")

IdFactory = Callable[[], str]


def new_file_id() -> str:
    """12 characters drawn uniformly from ``_ALPHABET`` out of one read of the system's random source.

    ``secrets.choice`` per character reads it twelve times, and each read releases the GIL: on the event
    loop's thread, under load, each release waits for the GIL to come back (up to the 5 ms switch interval
    while the SQLite writer or a disk thread runs Python), which made this a quarter of the loop's time in
    a small upload. Bytes of 252 and up are dropped so that every character is equally likely (252 = 7 x 36).
    """
    chosen: list[str] = []
    while len(chosen) < 12:
        chosen += [_ALPHABET[b % 36] for b in secrets.token_bytes(16) if b < 252]
    return "".join(chosen[:12])


def new_upload_token() -> str:
    """The upload URL's id: an unguessable credential (the Python SDK sends no API key on chunks)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Only a digest of an upload token is stored, so a copy of the database holds no credentials."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_file_name(name: str) -> str:
    """``files/abc`` or ``abc`` -> ``abc``; anything else is an InvalidArgument."""
    file_id = name[len("files/") :] if name.startswith("files/") else name
    if not CUSTOM_ID.match(file_id):
        raise InvalidArgument(
            f"Invalid file name {name!r}: the id after 'files/' must be 1-40 characters of lowercase "
            "letters, digits or dashes, and may not start or end with a dash."
        )
    return file_id
