"""The crash torture's batch checks catch what they are for: a state gone back, a job ended in a way no
client caused, inline answers out of order, a job with two results files. No server: replies as the
wire API writes them."""

from __future__ import annotations

import base64
from typing import Any

from tests.torture.batch_ledger import observe
from tests.torture.ledger import ExpectedBatch, Ledger, Violations, adopt_results


def job_reply(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "batches/b1",
        "metadata": {"state": f"BATCH_STATE_{state}", **extra.pop("metadata", {})},
        **extra,
    }


def test_observe_flags_a_state_that_goes_back_or_changes_once_ended() -> None:
    violations = Violations()
    job = ExpectedBatch("batches/b1", "label", "files/in", ["k0"])
    observe(job, job_reply("RUNNING"), violations, "t")
    observe(job, job_reply("PENDING"), violations, "t")
    job.cancel = "acked"
    observe(job, job_reply("CANCELLED"), violations, "t")
    observe(job, job_reply("SUCCEEDED"), violations, "t")
    assert violations.items == [
        "t: batches/b1 went from BATCH_STATE_RUNNING back to BATCH_STATE_PENDING",
        "t: batches/b1 went from BATCH_STATE_CANCELLED back to BATCH_STATE_SUCCEEDED",
    ]


def test_observe_flags_a_failed_job_and_a_cancel_nobody_sent() -> None:
    violations = Violations()
    observe(ExpectedBatch("batches/b1", "l", None, ["0"]), job_reply("FAILED"), violations, "t")
    observe(ExpectedBatch("batches/b1", "l", None, ["0"]), job_reply("CANCELLED"), violations, "t")
    assert [v.split(": ", 1)[1] for v in violations.items] == [
        "batches/b1 failed: None",
        "batches/b1 is CANCELLED but no cancel was sent",
    ]


def test_observe_checks_inline_answers_and_counts_against_the_requests() -> None:
    violations = Violations()
    job = ExpectedBatch("batches/b1", "l", None, ["0", "1"])
    stats = {"batchStats": {"requestCount": "2", "successfulRequestCount": "2"}}
    answers = [{"metadata": {"i": 1}, "response": {}}, {"metadata": {"i": 0}, "response": {}}]
    reply = job_reply(
        "SUCCEEDED", metadata=stats, response={"inlinedResponses": {"inlinedResponses": answers}}
    )
    observe(job, reply, violations, "t")
    assert violations.items == ["t: batches/b1 answered inline ['1', '0'], expected ['0', '1']"]
    one = ExpectedBatch("batches/b1", "l", "files/in", ["k0", "k1"])
    short = {"batchStats": {"requestCount": "1", "successfulRequestCount": "1"}}
    observe(
        one, job_reply("SUCCEEDED", metadata=short, response={"responsesFile": "files/out"}), violations, "t"
    )
    assert "succeeded with stats" in violations.items[-1] and one.output == "files/out"


def test_a_results_file_is_adopted_once_per_file_job() -> None:
    violations = Violations()
    ledger = Ledger(key="k")
    ledger.batches["batches/b1"] = ExpectedBatch("batches/b1", "l", "files/in", ["k0"])
    ledger.batches["batches/b2"] = ExpectedBatch("batches/b2", "l", None, ["0"])
    sha = base64.b64encode(b"ab" * 32).decode()

    def item(label: str) -> dict[str, Any]:
        return {"source": "GENERATED", "displayName": label, "sizeBytes": "10", "sha256Hash": sha}

    assert adopt_results(ledger, "files/out", item("batches/b1-output"), violations)
    assert ledger.files["files/out"].sha256 == "ab" * 32 and ledger.files["files/out"].fate == "acked"
    assert not adopt_results(ledger, "files/second", item("batches/b1-output"), violations)
    assert not adopt_results(ledger, "files/inline", item("batches/b2-output"), violations)
    assert not adopt_results(ledger, "files/stray", item("batches/nosuch-output"), violations)
    assert not adopt_results(
        ledger, "files/up", {**item("batches/b1-output"), "source": "UPLOADED"}, violations
    )
    assert len(violations.items) == 2 and "files/second" in violations.items[0]
