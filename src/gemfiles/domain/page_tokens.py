"""Keyset page tokens of the lists that page by (create time, id): batch jobs and cached contents.

A token is URL-safe base64 of ``[tag, create_micros, id]``; the tag names the list, so a token of one list
is refused by another. Anything that does not decode is Google's ``Invalid page token.``
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gemfiles.domain.clock import to_micros
from gemfiles.errors import ApiError, InvalidArgument


def encode(tag: str, create_time: datetime, item_id: str) -> str:
    raw = json.dumps([tag, to_micros(create_time), item_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(tag: str, token: str, check_id: Callable[[str], Any]) -> tuple[int, str]:
    """(create_micros, id) after which the next page starts; ``check_id`` refuses a malformed id."""
    try:
        padded = token + "=" * (-len(token) % 4)
        version, micros, item_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if version != tag or type(micros) is not int or not isinstance(item_id, str):
            raise ValueError(token)
        check_id(item_id)
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error, ApiError):
        raise InvalidArgument("Invalid page token.") from None
    return micros, item_id
