"""The stores' refusals (domain/ports/) as the API errors a client is told (errors.py)."""

from __future__ import annotations

from gemfiles.domain.ports import NameTaken, QuotaRefused
from gemfiles.errors import AlreadyExists, QuotaExceeded


def name_taken(refusal: NameTaken) -> AlreadyExists:
    return AlreadyExists(f"File files/{refusal.file_id} already exists.")


def quota_exceeded(refusal: QuotaRefused) -> QuotaExceeded:
    return QuotaExceeded(
        refusal.project,
        f"Quota exceeded: storing {refusal.needed} more bytes would exceed this project's file storage "
        f"quota of {refusal.quota} bytes.",
    )


def name_taken_result(file_id: str) -> dict[str, object]:
    """The error a session ends with when its custom name was taken at finalize (replayed on retries)."""
    return AlreadyExists(f"File files/{file_id} already exists.").body()["error"]
