"""Planned upload and processing faults: validation, counting per key, and what each fault does."""

from __future__ import annotations

import pytest

from gemfiles.domain.faults import Fault, FaultError, FaultPlan, parse_faults


def plan_of(*faults: dict) -> FaultPlan:
    plan = FaultPlan()
    plan.set_faults("p1", parse_faults(list(faults)))
    return plan


def test_take_nothing_without_a_plan() -> None:
    assert FaultPlan().take("p1", "upload.chunk", key="u1") is None


def test_take_chunk_unavailable_on_the_nth_chunk_of_each_upload() -> None:
    plan = plan_of({"kind": "chunk_unavailable", "nth": 2})
    assert plan.take("p1", "upload.chunk", key="u1") is None
    fault = plan.take("p1", "upload.chunk", key="u1")
    assert fault is not None and fault.kind == "chunk_unavailable"
    error = fault.error()
    assert (error.code, error.status) == (503, "UNAVAILABLE")
    assert plan.take("p1", "upload.chunk", key="u1") is None  # the retried chunk goes through
    assert plan.take("p1", "upload.chunk", key="u2") is None
    assert plan.take("p1", "upload.chunk", key="u2") is not None  # another upload counts afresh
    assert plan.fired("p1") == [2]


def test_take_fires_times_in_a_row() -> None:
    plan = plan_of({"kind": "chunk_unavailable", "nth": 1, "times": 2})
    assert [plan.take("p1", "upload.chunk", key="u") is not None for _ in range(3)] == [True, True, False]


def test_take_only_at_the_fault_point_and_project() -> None:
    plan = plan_of({"kind": "drop_after_store"})
    assert plan.take("p1", "upload.chunk", key="u") is None
    assert plan.take("p2", "upload.chunk_stored", key="u") is None
    fault = plan.take("p1", "upload.chunk_stored", key="u")
    assert fault is not None and fault.point == "upload.chunk_stored"
    with pytest.raises(ValueError, match="not an error"):
        fault.error()


def test_take_start_exhausted_with_retry_after() -> None:
    plan = plan_of({"kind": "start_exhausted", "retry_after": 4})
    fault = plan.take("p1", "upload.start", display_name="a.pdf", mime_type="application/pdf")
    assert fault is not None
    error = fault.error()
    assert (error.code, error.status, error.headers) == (429, "RESOURCE_EXHAUSTED", {"Retry-After": "4"})
    assert error.message == "Resource has been exhausted (e.g. check quota)."


def test_take_processing_faults_filtered_by_name_and_type() -> None:
    plan = plan_of(
        {"kind": "hold_processing", "seconds": 30, "mime_type": "video/*"},
        {"kind": "fail_processing", "display_name": "broken-*", "message": "Unsupported codec."},
    )
    assert plan.take("p1", "file.processing", display_name="a.pdf", mime_type="application/pdf") is None
    hold = plan.take("p1", "file.processing", display_name="clip.mp4", mime_type="video/mp4")
    assert hold is not None and hold.kind == "hold_processing" and hold.seconds == 30
    fail = plan.take("p1", "file.processing", display_name="broken-1.png", mime_type="image/png")
    assert fail is not None and fail.failure_message == "Unsupported codec."


def test_faults_count_independently_first_in_plan_order_wins() -> None:
    plan = plan_of(
        {"kind": "chunk_unavailable", "nth": 2},
        {"kind": "chunk_unavailable", "nth": 1, "times": 2, "message": "second"},
    )
    first = plan.take("p1", "upload.chunk", key="u")
    second = plan.take("p1", "upload.chunk", key="u")
    assert first is not None and first.message == "second"
    assert second is not None and second.message is None
    assert plan.fired("p1") == [1, 1]


def test_add_list_and_reset_faults() -> None:
    plan = plan_of({"kind": "start_exhausted"})
    plan.add_faults("p1", [Fault(kind="fail_processing")])
    assert [f.kind for f in plan.faults("p1")] == ["start_exhausted", "fail_processing"]
    plan.reset("p1")
    assert plan.faults("p1") == [] and plan.take("p1", "upload.start") is None


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ([{"kind": "explode"}], "fault 0: kind: Input should be 'start_exhausted'"),
        (
            [{"kind": "start_exhausted"}, {"kind": "hold_processing"}],
            "fault 1: hold_processing needs 'seconds'",
        ),
        (
            [{"kind": "chunk_unavailable", "nth": 0}],
            "fault 0: nth: Input should be greater than or equal to 1",
        ),
        (
            [{"kind": "chunk_unavailable", "seconds": 3}],
            "fault 0: 'seconds' applies to hold_processing only",
        ),
        ([{"kind": "drop_after_store", "retry_after": 3}], "fault 0: 'retry_after' applies"),
        ([{"kind": "fail_processing", "colour": "red"}], "fault 0: colour: Extra inputs are not permitted"),
        ({"fault": []}, "expected a list of faults"),
    ],
)
def test_parse_faults_refuses_bad_faults_naming_fault_and_field(faults: object, message: str) -> None:
    with pytest.raises(FaultError) as caught:
        parse_faults(faults)
    assert message in caught.value.message and caught.value.code == 400


def test_parse_faults_accepts_an_object_with_faults() -> None:
    assert (
        parse_faults({"faults": [{"kind": "fail_processing"}]})[0].failure_message
        == "File processing failed."
    )
