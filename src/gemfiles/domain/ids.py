"""File ids and upload tokens.

Generated file ids are 12 lowercase alphanumerics like Google's (``files/azucr4abxgje``): the SDKs cut a
URI-derived id at the first character outside ``[a-z0-9]``, so generated ids never contain ``-``.
Client-chosen ids follow Google's rule: up to 40 lowercase alphanumerics or dashes, not starting or ending
with a dash.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from collections.abc import Callable

from gemfiles.errors import InvalidArgument

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
CUSTOM_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")

IdFactory = Callable[[], str]


class Entropy:
    """Bytes of the system's random source (``os.urandom``, what ``secrets`` reads), read 4 KiB at a time
    and handed out once each, in order.

    Every read of the source releases the GIL, and on the event loop's thread under load each release
    waits for the GIL to come back (up to the 5 ms switch interval while the SQLite writer or a disk thread
    runs Python): with a read per id and per token, a small upload's loop time was a fifth to a quarter of
    these waits. The bytes are the same kernel CSPRNG's; only the reads are fewer (one per ~80 uploads). A
    forked child starts with an empty buffer, so parent and child never hand out the same bytes.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            at = self._at
            if at + n > len(self._buffer):
                self._buffer, at = os.urandom(max(self._size, n)), 0
            self._at = at + n
            return self._buffer[at : at + n]

    def forget(self) -> None:
        with self._lock:
            self._buffer, self._at = b"", 0


ENTROPY = Entropy()
os.register_at_fork(after_in_child=ENTROPY.forget)


def random_id(length: int) -> str:
    """``length`` characters drawn uniformly from ``_ALPHABET`` (lowercase alphanumerics): the ids of files,
    batch jobs, cached contents and interactions. Bytes of 252 and up are dropped so that every character is
    equally likely (252 = 7 x 36)."""
    chosen: list[str] = []
    while len(chosen) < length:
        chosen += [_ALPHABET[b % 36] for b in ENTROPY.take(length + 4) if b < 252]
    return "".join(chosen[:length])


def new_file_id() -> str:
    return random_id(12)


def new_upload_token() -> str:
    """The upload URL's id: an unguessable credential (the Python SDK sends no API key on chunks): 32
    random bytes in URL-safe base64 without padding, as ``secrets.token_urlsafe(32)``."""
    return base64.urlsafe_b64encode(ENTROPY.take(32)).rstrip(b"=").decode("ascii")


def random_hex(n: int) -> str:
    """``n`` random bytes as hex, as ``secrets.token_hex(n)``."""
    return ENTROPY.take(n).hex()


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
