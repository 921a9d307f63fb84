"""The upload session's state machine (WIRE.md 5.4): a session and a command in, a decision out.

Nothing here reads bytes or touches a store. ``UploadService`` (domain/uploads.py) carries a decision
out: it writes a chunk, compares re-sent bytes, finalizes, or raises the ``UploadError`` decided here.
Every reply of the upload URL, errors included, carries ``X-Goog-Upload-Status`` (WIRE.md 12.5), so every
refusal names the status the client is told, and the received size when the session is active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gemfiles.domain.models import FileRecord, PartRef, SessionStatus, UploadSession
from gemfiles.errors import AlreadyExists, ApiError, FailedPrecondition, InvalidArgument, NotFound

WireStatus = Literal["active", "final", "cancelled"]


@dataclass(frozen=True, slots=True)
class UploadReply:
    """What the upload URL answers: ``X-Goog-Upload-Status``, ``Size-Received`` and maybe the File."""

    status: WireStatus
    received: int | None = None
    file: FileRecord | None = None


class UploadError(Exception):
    """A refusal of the upload URL: the API error, and the upload status the reply carries with it."""

    def __init__(self, error: ApiError, status: WireStatus, received: int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.status = status
        self.received = received


@dataclass(frozen=True, slots=True)
class ChunkCommand:
    """``X-Goog-Upload-Command: upload`` and/or ``finalize`` with its offset and Content-Length."""

    offset: int | None
    length: int | None
    upload: bool
    finalize: bool


# Decisions -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Refuse:
    error: UploadError


@dataclass(frozen=True, slots=True)
class Append:
    """Write the chunk at ``start``: ``length`` bytes (None: until the body ends), at most ``room``."""

    start: int
    length: int | None
    room: int


@dataclass(frozen=True, slots=True)
class Settle:
    """Nothing to write (an empty chunk, a bare finalize): go on as after a commit."""


@dataclass(frozen=True, slots=True)
class CompareResent:
    """The last committed chunk sent again (its reply was lost): answer as before if the bytes match."""

    part: PartRef


@dataclass(frozen=True, slots=True)
class RetryFinal:
    """A chunk or finalize for a finalized session: a retry whose reply was lost, or a refusal."""

    offset: int
    length: int | None


@dataclass(frozen=True, slots=True)
class Answer:
    reply: UploadReply


@dataclass(frozen=True, slots=True)
class Finalize:
    """Join the parts and record the file."""


@dataclass(frozen=True, slots=True)
class ReplayFinal:
    """Answer with the file the session made (a retried finalize, a query after final)."""


@dataclass(frozen=True, slots=True)
class CompareFinal:
    """Answer final if the body equals bytes ``[start, end)`` of the file made; refuse otherwise."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CancelNow:
    """Cancel the active session (a compare-and-set: another request may have ended it first)."""


ChunkDecision = Refuse | Append | Settle | CompareResent | RetryFinal
SettledDecision = Refuse | Answer | ReplayFinal
AfterCommitDecision = Refuse | Answer | ReplayFinal | Finalize
AfterFinalDecision = Refuse | ReplayFinal | CompareFinal
CancelDecision = Refuse | CancelNow


# The machine -----------------------------------------------------------------------------------------------
def open_session(session: UploadSession | None, project: str | None, now: datetime) -> UploadSession | Refuse:
    """The session an upload URL names, or why it answers as if there were none."""
    if session is None or (session.status == SessionStatus.ACTIVE and session.expire_time <= now):
        return Refuse(session_gone())
    if project is not None and project != session.project:
        return Refuse(session_gone())  # the upload id is bound to the project that started it
    return session


def decide_chunk(session: UploadSession, command: ChunkCommand, max_file_bytes: int) -> ChunkDecision:
    if session.status == SessionStatus.CANCELLED:
        return Refuse(cancelled())
    if session.status == SessionStatus.FAILED:
        return Refuse(replayed_failure(session))
    length = command.length if command.upload else 0
    if command.upload and command.offset is None:
        error = InvalidArgument("X-Goog-Upload-Offset is required with the upload command.")
        return Refuse(UploadError(error, wire_status(session), session.received))
    offset = session.received if command.offset is None else command.offset
    if session.status == SessionStatus.FINAL:
        return RetryFinal(offset, length)
    if offset != session.received:
        last = session.parts[-1] if session.parts else None
        if last is not None and offset == session.received - last.size and length in (None, last.size):
            return CompareResent(last)
        return Refuse(bad_offset(session, offset))
    if not command.upload or length == 0:
        return Settle()
    if length is not None:
        refusal = room_refusal(session, length, max_file_bytes)
        if refusal is not None:
            return Refuse(refusal)
    return Append(session.received, length, room(session, max_file_bytes))


def after_commit(session: UploadSession, finalize: bool) -> AfterCommitDecision:
    if session.status != SessionStatus.ACTIVE:
        return settled(session)
    if not finalize:
        return Answer(UploadReply("active", session.received))
    declared = session.declared_size
    if declared is not None and session.received != declared:
        error = InvalidArgument(
            f"The upload was finalized with {session.received} bytes, but "
            f"X-Goog-Upload-Header-Content-Length declared {declared}."
        )
        return Refuse(UploadError(error, "active", session.received))
    return Finalize()


def settled(session: UploadSession) -> SettledDecision:
    """The answer to a session as it stands (a query; any command once it has ended)."""
    if session.status == SessionStatus.ACTIVE:
        return Answer(UploadReply("active", session.received))
    if session.status == SessionStatus.CANCELLED:
        # Only the cancel itself answers 200; anything after it is refused (WIRE.md 5.4, 5.6).
        return Refuse(cancelled())
    if session.status == SessionStatus.FAILED:
        return Refuse(replayed_failure(session))
    return ReplayFinal()


def after_final(session: UploadSession, offset: int, length: int | None) -> AfterFinalDecision:
    """A command for a finalized session: only a repeat of the last request is answered final again."""
    end = offset + (length or 0)
    if length and end == session.received and offset >= 0:
        return CompareFinal(offset, end)
    if not length and offset == session.received:
        return ReplayFinal()
    error = FailedPrecondition("The upload is already finalized; no more bytes can be added.")
    return Refuse(UploadError(error, "final"))


def decide_cancel(session: UploadSession) -> CancelDecision:
    if session.status == SessionStatus.ACTIVE:
        return CancelNow()
    return Refuse(cancel_lost(session))


def cancel_lost(session: UploadSession) -> UploadError:
    """Why a cancel is refused: the session was cancelled before, or ended otherwise."""
    if session.status == SessionStatus.CANCELLED:
        return cancelled()
    error = FailedPrecondition("The upload is already finalized and cannot be cancelled.")
    return UploadError(error, "final")


def room(session: UploadSession, max_file_bytes: int) -> int:
    """How many more bytes the session may take."""
    left = max_file_bytes - session.received
    if session.declared_size is not None:
        left = min(left, session.declared_size - session.received)
    return left


def room_refusal(session: UploadSession, length: int, max_file_bytes: int) -> UploadError | None:
    end = session.received + length
    if session.declared_size is not None and end > session.declared_size:
        error = InvalidArgument(
            f"The upload would hold {end} bytes, more than the {session.declared_size} declared in "
            "X-Goog-Upload-Header-Content-Length."
        )
        return UploadError(error, "active", session.received)
    if end > max_file_bytes:
        error = InvalidArgument(f"The file would exceed the maximum file size of {max_file_bytes} bytes.")
        return UploadError(error, "active", session.received)
    return None


def overflow(session: UploadSession, max_file_bytes: int) -> UploadError:
    """The refusal of a chunk of unknown length found to run past the room the session has left."""
    refusal = room_refusal(session, room(session, max_file_bytes) + 1, max_file_bytes)
    return refusal if refusal is not None else bad_offset(session, session.received)


# Refusals --------------------------------------------------------------------------------------------------
def wire_status(session: UploadSession) -> WireStatus:
    if session.status == SessionStatus.ACTIVE:
        return "active"
    if session.status == SessionStatus.CANCELLED:
        return "cancelled"
    return "final"


def session_gone() -> UploadError:
    return UploadError(NotFound("The upload session does not exist or has expired."), "final")


def file_gone() -> UploadError:
    return UploadError(NotFound("The file made by this upload no longer exists."), "final")


def cancelled() -> UploadError:
    return UploadError(FailedPrecondition("The upload was cancelled."), "cancelled")


def replayed_failure(session: UploadSession) -> UploadError:
    """The error a failed finalize gave, given again to every later request."""
    error = session.result_error or {}
    message = str(error.get("message", "The upload failed."))
    cls = AlreadyExists if error.get("status") == "ALREADY_EXISTS" else InvalidArgument
    return UploadError(cls(message), "final")


def bad_offset(session: UploadSession, offset: int) -> UploadError:
    if session.status != SessionStatus.ACTIVE:
        error: ApiError = FailedPrecondition("The upload is no longer active.")
        return UploadError(error, wire_status(session), session.received)
    error = InvalidArgument(
        f"Invalid X-Goog-Upload-Offset {offset}: the server has {session.received} bytes of this upload; "
        "send the next chunk at that offset."
    )
    return UploadError(error, "active", session.received)


def ended_early(size: int, length: int, start: int) -> UploadError:
    return UploadError(
        InvalidArgument(f"The chunk ended after {size} of its {length} bytes."), "active", start
    )


__all__ = [
    "Answer",
    "Append",
    "CancelNow",
    "ChunkCommand",
    "CompareFinal",
    "CompareResent",
    "Finalize",
    "Refuse",
    "ReplayFinal",
    "RetryFinal",
    "Settle",
    "UploadError",
    "UploadReply",
    "WireStatus",
    "after_commit",
    "after_final",
    "decide_cancel",
    "decide_chunk",
    "open_session",
    "settled",
]
