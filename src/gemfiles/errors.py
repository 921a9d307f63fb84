"""The error tree. Every error a client can see is an ``ApiError``; one function renders it.

    ApiError                      (code, Google canonical status)
    ├── InvalidArgument           400 INVALID_ARGUMENT
    │   └── ApiKeyInvalid         400 INVALID_ARGUMENT + ErrorInfo(API_KEY_INVALID)
    ├── FailedPrecondition        400 FAILED_PRECONDITION
    ├── Unauthenticated           401 UNAUTHENTICATED
    ├── PermissionDenied          403 PERMISSION_DENIED
    │   └── FileNotAccessible     403, "You do not have permission to access the File <id> or it may not exist."
    ├── NotFound                  404 NOT_FOUND
    ├── AlreadyExists             409 ALREADY_EXISTS
    ├── ResourceExhausted         429 RESOURCE_EXHAUSTED (+ QuotaFailure)
    ├── Internal                  500 INTERNAL
    ├── Unimplemented             501 UNIMPLEMENTED
    ├── BadGateway                502 UNAVAILABLE (an upstream model server answered badly)
    ├── Unavailable               503 UNAVAILABLE
    └── DeadlineExceeded          504 DEADLINE_EXCEEDED

Anything else that escapes a handler becomes 500 INTERNAL with a generic message and is logged.

Stores never raise these: they raise the domain's storage errors (``domain/ports/``: NameTaken,
QuotaRefused, SessionGone, ...), which the domain translates (``domain/refusals.py``). On the upload URL
the domain wraps an ApiError in ``domain.upload_machine.UploadError`` with the upload status to report.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    code: ClassVar[int] = 500
    status: ClassVar[str] = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.status, self.details)


def error_body(code: int, message: str, status: str, details: list[dict[str, Any]] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


class InvalidArgument(ApiError):
    code = 400
    status = "INVALID_ARGUMENT"


class ApiKeyInvalid(InvalidArgument):
    def __init__(self) -> None:
        # The exact reply of the real service to an unknown key.
        super().__init__(
            "API key not valid. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key.",
                },
            ],
        )


class FailedPrecondition(ApiError):
    code = 400
    status = "FAILED_PRECONDITION"


class Unauthenticated(ApiError):
    code = 401
    status = "UNAUTHENTICATED"


class PermissionDenied(ApiError):
    code = 403
    status = "PERMISSION_DENIED"


class FileNotAccessible(PermissionDenied):
    """Missing, foreign and expired files all look the same: Google answers 403, not 404."""

    def __init__(self, file_id: str) -> None:
        super().__init__(f"You do not have permission to access the File {file_id} or it may not exist.")


class NotFound(ApiError):
    code = 404
    status = "NOT_FOUND"


class AlreadyExists(ApiError):
    code = 409
    status = "ALREADY_EXISTS"


class ResourceExhausted(ApiError):
    code = 429
    status = "RESOURCE_EXHAUSTED"


class QuotaExceeded(ResourceExhausted):
    def __init__(self, project: str, message: str, *, metric: str = "project_storage_bytes") -> None:
        super().__init__(
            message,
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"subject": f"project:{project}", "description": message}],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED"
                    if metric != "project_storage_bytes"
                    else "QUOTA_EXCEEDED",
                    "domain": "gemfiles",
                    "metadata": {"quota_metric": metric},
                },
            ],
        )


class Internal(ApiError):
    code = 500
    status = "INTERNAL"


class Unimplemented(ApiError):
    code = 501
    status = "UNIMPLEMENTED"


class BadGateway(ApiError):
    code = 502
    status = "UNAVAILABLE"


class Unavailable(ApiError):
    code = 503
    status = "UNAVAILABLE"


class DeadlineExceeded(ApiError):
    code = 504
    status = "DEADLINE_EXCEEDED"
