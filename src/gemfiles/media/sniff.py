"""The ``TypeSniffer`` port on the ``filetype`` library: the MIME type of an upload that named none, from the
magic numbers of its first bytes (pure Python, no child process: nothing is decoded)."""

from __future__ import annotations

import filetype  # type: ignore[import-untyped]

from gemfiles.domain.mime import is_supported

# filetype's names for types this server spells otherwise.
_ALIASES = {"audio/x-wav": "audio/wav", "audio/x-flac": "audio/flac"}


class MagicSniffer:
    """A supported MIME type for bytes that start with ``head``, or None."""

    def mime_type(self, head: bytes) -> str | None:
        guessed = filetype.guess_mime(head)
        if not guessed:
            return None
        guessed = _ALIASES.get(guessed, guessed)
        return guessed if is_supported(guessed) else None
