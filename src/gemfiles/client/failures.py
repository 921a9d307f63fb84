"""What went wrong, read back from Google's error envelope, and the exit code that says it.

Exit codes (docs/cli.md):
    0  everything asked for was done
    1  the server refused the request, or some uploads failed for different reasons
    2  usage error: bad arguments or options (click's own code), unreadable local file
    3  authentication or permission: no key, a key the server does not accept, 401/403
    4  not found: 404, or Google's 403 "... or it may not exist" for a file
    5  server or network: 5xx, connection lost, timeouts, retries exhausted
    130 interrupted (Ctrl-C); run the same upload command again to resume
"""

from __future__ import annotations

import json
from typing import Any

import httpx

OK = 0
FAILED = 1
USAGE = 2
AUTH = 3
NOT_FOUND = 4
UNAVAILABLE = 5
INTERRUPTED = 130


class ClientFailure(Exception):
    """A failed operation: ``exit_code`` says which kind, ``as_json()`` what scripts get."""

    exit_code = FAILED

    def __init__(self, message: str, *, code: int | None = None, status: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "exitCode": self.exit_code}
        if self.code is not None:
            error["code"] = self.code
        if self.status:
            error["status"] = self.status
        return error

    def __str__(self) -> str:
        if self.code is not None:
            return f"{self.code} {self.status or 'ERROR'}: {self.message}"
        return self.message


class ApiFailure(ClientFailure):
    """The server answered with an error (Google's envelope, or whatever a proxy sent)."""

    def __init__(
        self, message: str, *, code: int, status: str, reason: str = "", retry_after: str | None = None
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.reason = reason
        self.retry_after = retry_after
        self.exit_code = _exit_code(code, reason, message)


class NetworkFailure(ClientFailure):
    """No usable answer: connection refused or lost, timeouts, retries exhausted."""

    exit_code = UNAVAILABLE


class LocalFailure(ClientFailure):
    """A local file could not be read, or changed while it was uploaded."""

    exit_code = FAILED


def _exit_code(code: int, reason: str, message: str) -> int:
    if reason in ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED") or code in (401,):
        return AUTH
    if code == 404:
        return NOT_FOUND
    if code == 403:
        # Google answers 403, not 404, for a missing, foreign or expired file.
        return NOT_FOUND if "may not exist" in message else AUTH
    if code >= 500:
        return UNAVAILABLE
    return FAILED


def failure_from_response(response: httpx.Response) -> ApiFailure:
    """Reads ``{"error": {"code", "message", "status", "details"}}`` (also inside a one-element list, as
    streaming endpoints send it); any other body becomes the message, the reason phrase the status."""
    body: Any = None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        pass
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        reason = ""
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("reason"):
                reason = str(detail["reason"])
                break
        return ApiFailure(
            str(error.get("message") or response.reason_phrase),
            code=response.status_code,
            status=str(error.get("status") or response.reason_phrase),
            reason=reason,
            retry_after=response.headers.get("retry-after"),
        )
    text = response.text.strip()[:500] if response.content else ""
    return ApiFailure(
        text or response.reason_phrase or "no message",
        code=response.status_code,
        status=response.reason_phrase.upper().replace(" ", "_"),
        retry_after=response.headers.get("retry-after"),
    )


def combined_exit_code(codes: list[int]) -> int:
    """One code for many operations: 0 if all succeeded, the shared code if every failure was of one
    kind, else 1."""
    failed = {code for code in codes if code != OK}
    if not failed:
        return OK
    if INTERRUPTED in failed:
        return INTERRUPTED
    return failed.pop() if len(failed) == 1 else FAILED
