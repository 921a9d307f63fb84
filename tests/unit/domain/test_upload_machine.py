"""The upload state machine (WIRE.md 5.4-5.9), one decision at a time: no store, no bytes, no event loop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gemfiles.domain.models import PartRef, SessionStatus, UploadSession
from gemfiles.domain.upload_machine import (
    Answer,
    Append,
    CancelNow,
    ChunkCommand,
    CompareFinal,
    CompareResent,
    Finalize,
    Refuse,
    ReplayFinal,
    RetryFinal,
    Settle,
    UploadError,
    after_commit,
    after_final,
    decide_cancel,
    decide_chunk,
    open_session,
    settled,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MAX = 2 * 1024**3


def session(
    *,
    status: SessionStatus = SessionStatus.ACTIVE,
    received: int = 0,
    declared: int | None = 100,
    parts: list[PartRef] | None = None,
    result_error: dict[str, object] | None = None,
) -> UploadSession:
    return UploadSession(
        token_digest="d" * 64,
        project="p",
        file_id="f1",
        mime_type="text/plain",
        display_name=None,
        declared_size=declared,
        reserved_bytes=declared or 0,
        received=received,
        status=status,
        create_time=NOW,
        expire_time=NOW + timedelta(days=7),
        parts=parts if parts is not None else ([PartRef(1, received)] if received else []),
        result_error=result_error,
    )


def upload(offset: int | None, length: int | None, *, finalize: bool = False) -> ChunkCommand:
    return ChunkCommand(offset, length, upload=True, finalize=finalize)


FINALIZE = ChunkCommand(None, 0, upload=False, finalize=True)


def refusal(decision: object) -> UploadError:
    assert isinstance(decision, Refuse), decision
    return decision.error


# active: upload at offset N ------------------------------------------------------------------------------
def test_decide_chunk_appends_a_chunk_at_the_received_offset() -> None:
    assert decide_chunk(session(received=40), upload(40, 30), MAX) == Append(40, 30, room=60)


def test_decide_chunk_appends_a_chunk_of_unknown_length_with_the_room_left() -> None:
    assert decide_chunk(session(received=40, declared=None), upload(40, None), 1000) == Append(40, None, 960)


def test_after_commit_of_a_non_final_chunk_answers_active_with_the_size_received() -> None:
    decision = after_commit(session(received=70), finalize=False)
    assert isinstance(decision, Answer)
    assert (decision.reply.status, decision.reply.received, decision.reply.file) == ("active", 70, None)


def test_after_commit_of_the_chunk_reaching_the_declared_size_with_finalize_finalizes() -> None:
    assert after_commit(session(received=100), finalize=True) == Finalize()


def test_decide_chunk_of_a_bare_finalize_settles_without_writing() -> None:
    assert decide_chunk(session(received=100), FINALIZE, MAX) == Settle()


def test_decide_chunk_of_an_empty_upload_settles_without_writing() -> None:
    assert decide_chunk(session(received=0, declared=0), upload(0, 0, finalize=True), MAX) == Settle()


# active: refusals that keep the data ---------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0, 39, 41, 1000])
def test_decide_chunk_at_a_wrong_offset_is_refused_active_with_the_size_received(offset: int) -> None:
    parts = [PartRef(1, 20), PartRef(2, 20)]
    error = refusal(decide_chunk(session(received=40, parts=parts), upload(offset, 5), MAX))
    assert (error.error.code, error.error.status, error.status, error.received) == (
        400,
        "INVALID_ARGUMENT",
        "active",
        40,
    )
    assert "X-Goog-Upload-Offset" in error.error.message


def test_decide_chunk_without_an_offset_is_refused() -> None:
    error = refusal(decide_chunk(session(received=5), upload(None, 5), MAX))
    assert (error.error.code, error.status, error.received) == (400, "active", 5)
    assert "X-Goog-Upload-Offset is required" in error.error.message


def test_after_commit_of_a_finalize_short_of_the_declared_size_is_refused_active() -> None:
    error = refusal(after_commit(session(received=60), finalize=True))
    assert (error.error.code, error.status, error.received) == (400, "active", 60)
    assert "declared 100" in error.error.message


def test_decide_chunk_past_the_declared_size_is_refused_active() -> None:
    error = refusal(decide_chunk(session(received=90), upload(90, 11), MAX))
    assert (error.error.code, error.status, error.received) == (400, "active", 90)
    assert "more than the 100 declared" in error.error.message


def test_decide_chunk_past_the_maximum_file_size_is_refused_active() -> None:
    error = refusal(decide_chunk(session(received=90, declared=None), upload(90, 11), 100))
    assert (error.error.code, error.status) == (400, "active")
    assert "maximum file size of 100 bytes" in error.error.message


# active: a re-sent chunk (its reply was lost) ------------------------------------------------------------
def test_decide_chunk_of_the_last_chunk_sent_again_compares_it_with_the_stored_part() -> None:
    last = PartRef(2, 30)
    current = session(received=50, parts=[PartRef(1, 20), last])
    assert decide_chunk(current, upload(20, 30), MAX) == CompareResent(last)
    assert decide_chunk(current, upload(20, None), MAX) == CompareResent(last)


def test_decide_chunk_of_an_older_chunk_sent_again_is_a_bad_offset() -> None:
    current = session(received=50, parts=[PartRef(1, 20), PartRef(2, 30)])
    assert refusal(decide_chunk(current, upload(0, 20), MAX)).received == 50


def test_decide_chunk_of_a_resent_offset_with_another_length_is_a_bad_offset() -> None:
    current = session(received=50, parts=[PartRef(1, 20), PartRef(2, 30)])
    assert refusal(decide_chunk(current, upload(20, 29), MAX)).status == "active"


# query ---------------------------------------------------------------------------------------------------
def test_settled_of_an_active_session_answers_active_with_the_size_received() -> None:
    decision = settled(session(received=8))
    assert isinstance(decision, Answer)
    assert (decision.reply.status, decision.reply.received) == ("active", 8)


def test_settled_of_a_final_session_replays_the_file() -> None:
    assert settled(session(status=SessionStatus.FINAL, received=100)) == ReplayFinal()


# final ---------------------------------------------------------------------------------------------------
def test_decide_chunk_for_a_final_session_is_a_retry_after_final() -> None:
    final = session(status=SessionStatus.FINAL, received=100)
    assert decide_chunk(final, upload(70, 30, finalize=True), MAX) == RetryFinal(70, 30)
    assert decide_chunk(final, FINALIZE, MAX) == RetryFinal(100, 0)


def test_after_final_of_the_last_chunk_again_compares_it_with_the_file() -> None:
    assert after_final(session(status=SessionStatus.FINAL, received=100), 70, 30) == CompareFinal(70, 100)


def test_after_final_of_a_bare_finalize_replays_the_final_reply() -> None:
    assert after_final(session(status=SessionStatus.FINAL, received=100), 100, 0) == ReplayFinal()


@pytest.mark.parametrize(("offset", "length"), [(100, 5), (60, 30), (0, 0), (-1, 101)])
def test_after_final_of_other_bytes_is_refused_final(offset: int, length: int) -> None:
    error = refusal(after_final(session(status=SessionStatus.FINAL, received=100), offset, length))
    assert (error.error.code, error.error.status, error.status) == (400, "FAILED_PRECONDITION", "final")


def test_decide_cancel_of_a_final_session_is_refused_final() -> None:
    error = refusal(decide_cancel(session(status=SessionStatus.FINAL, received=100)))
    assert (error.error.status, error.status) == ("FAILED_PRECONDITION", "final")
    assert "cannot be cancelled" in error.error.message


# finalize refused for its content (5.8) ------------------------------------------------------------------
def test_a_failed_session_replays_its_error_to_every_command() -> None:
    failed = session(
        status=SessionStatus.FAILED,
        result_error={
            "code": 400,
            "message": "Unsupported MIME type: bad/type",
            "status": "INVALID_ARGUMENT",
        },
    )
    for decision in (decide_chunk(failed, FINALIZE, MAX), settled(failed)):
        error = refusal(decision)
        assert (error.error.code, error.error.message, error.status) == (
            400,
            "Unsupported MIME type: bad/type",
            "final",
        )


def test_a_session_failed_on_a_taken_name_replays_already_exists() -> None:
    failed = session(
        status=SessionStatus.FAILED,
        result_error={"code": 409, "message": "File files/f1 already exists.", "status": "ALREADY_EXISTS"},
    )
    error = refusal(settled(failed))
    assert (error.error.code, error.error.status, error.status) == (409, "ALREADY_EXISTS", "final")


# cancel (5.6) --------------------------------------------------------------------------------------------
def test_decide_cancel_of_an_active_session_cancels_it() -> None:
    assert decide_cancel(session(received=10)) == CancelNow()


def test_every_command_after_a_cancel_is_refused_cancelled() -> None:
    gone = session(status=SessionStatus.CANCELLED, received=10)
    for decision in (decide_chunk(gone, upload(10, 5), MAX), settled(gone), decide_cancel(gone)):
        error = refusal(decision)
        assert (error.error.code, error.error.status, error.status) == (
            400,
            "FAILED_PRECONDITION",
            "cancelled",
        )


# unknown or expired upload id ----------------------------------------------------------------------------
def test_open_session_of_an_unknown_upload_id_is_refused_not_found_final() -> None:
    error = refusal(open_session(None, None, NOW))
    assert (error.error.code, error.status, error.received) == (404, "final", None)


def test_open_session_of_an_expired_active_session_is_refused_not_found_final() -> None:
    expired = replace(session(), expire_time=NOW)
    assert refusal(open_session(expired, None, NOW)).error.code == 404


def test_open_session_of_another_projects_key_is_refused_not_found() -> None:
    assert refusal(open_session(session(), "other", NOW)).error.code == 404


def test_open_session_without_a_key_or_with_the_right_project_opens_it() -> None:
    current = session()
    assert open_session(current, None, NOW) is current
    assert open_session(current, "p", NOW) is current


def test_open_session_of_a_final_session_past_its_expiry_still_opens_it() -> None:
    # Only an active session expires on the upload URL: a final one still replays its file.
    final = replace(session(status=SessionStatus.FINAL, received=100), expire_time=NOW)
    assert open_session(final, None, NOW) is final
