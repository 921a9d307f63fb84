"""The batch jobs' invariants, checked against a live server after every restart and at the end.

- A job whose create was acknowledged answers ``GET`` and is listed by ``GET /v1beta/batches`` until the
  client deletes it; a deleted one never comes back.
- Its state only moves forward (``PENDING`` -> ``RUNNING`` -> ``SUCCEEDED`` / ``FAILED`` / ``CANCELLED``),
  and an ended state never changes. ``FAILED`` is never right here (no client deletes the input of a job it
  has not seen end); ``CANCELLED`` only after a cancel was sent.
- A create whose reply was lost may have made one job, under a name the client cannot know: a listed job
  that no acknowledged create made is adopted against one such create (its display name and input), at
  most one each; at
  the next check after a restart the rest never may appear.
- Once ``SUCCEEDED``: inline jobs answer each request inline, in order (``metadata.i``); file jobs name a
  results file (``responsesFile``) with one line per input line, the input's keys in order. At the end,
  every job that no cancel could have stopped reaches ``SUCCEEDED`` within a bound after the last restart.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.torture.ledger import ExpectedBatch, Ledger, Violations

RANK = {
    "BATCH_STATE_PENDING": 0,
    "BATCH_STATE_RUNNING": 1,
    "BATCH_STATE_SUCCEEDED": 2,
    "BATCH_STATE_FAILED": 2,
    "BATCH_STATE_CANCELLED": 2,
}
SUCCEEDED, CANCELLED = "BATCH_STATE_SUCCEEDED", "BATCH_STATE_CANCELLED"
# A runner killed under a job holds its lease for 15 s (batch_runner.RunnerLimits); the rest is load.
FINISH_SECONDS = 60.0


def done(state: str) -> bool:
    return RANK.get(state) == 2


def observe(job: ExpectedBatch, reply: dict[str, Any], violations: Violations, where: str) -> None:
    """One look at a job (a GET or a list entry): the state never goes back; inline answers checked."""
    metadata = reply.get("metadata", {})
    state = str(metadata.get("state"))
    if state not in RANK:
        violations.add(f"{where}: {job.name} answered state {state}")
        return
    if RANK[state] < RANK[job.state] or (done(job.state) and state != job.state):
        violations.add(f"{where}: {job.name} went from {job.state} back to {state}")
        return
    if state == "BATCH_STATE_FAILED":
        violations.add(f"{where}: {job.name} failed: {reply.get('error')}")
    if state == CANCELLED and job.cancel is None:
        violations.add(f"{where}: {job.name} is CANCELLED but no cancel was sent")
    job.state = state
    if state != SUCCEEDED:
        return
    stats = metadata.get("batchStats", {})
    answered = int(stats.get("successfulRequestCount", 0)) + int(stats.get("failedRequestCount", 0))
    if int(stats.get("requestCount", 0)) != len(job.keys) or answered != len(job.keys):
        violations.add(f"{where}: {job.name} succeeded with stats {stats} for {len(job.keys)} requests")
    output = reply.get("response", {})
    if job.input_file is None:
        answers = output.get("inlinedResponses", {}).get("inlinedResponses", [])
        got = [str(a.get("metadata", {}).get("i")) for a in answers]
        if got != job.keys:
            violations.add(f"{where}: {job.name} answered inline {got}, expected {job.keys}")
        job.verified = True
        return
    name = output.get("responsesFile")
    if not name or job.output not in (None, name):
        violations.add(f"{where}: {job.name} succeeded naming results {name!r} (seen before: {job.output})")
        return
    job.output = name


def list_batches(client: httpx.Client, key: str) -> dict[str, dict[str, Any]]:
    listed: dict[str, dict[str, Any]] = {}
    token = ""
    while True:
        params = {"pageSize": "100", **({"pageToken": token} if token else {})}
        reply = client.get("/v1beta/batches", params=params, headers={"x-goog-api-key": key})
        reply.raise_for_status()
        body = reply.json()
        for item in body.get("operations", []):
            listed[item["name"]] = item
        token = body.get("nextPageToken", "")
        if not token:
            return listed


def _adopt(ledger: Ledger, name: str, item: dict[str, Any], violations: Violations) -> ExpectedBatch | None:
    metadata = item.get("metadata", {})
    source = metadata.get("inputConfig", {}).get("fileName")
    label = metadata.get("displayName")
    match = next((b for b in ledger.maybe_batches if (b.label, b.input_file) == (label, source)), None)
    if match is None:
        violations.add(f"project {ledger.key}: {name} is listed but no create made it")
        return None
    ledger.maybe_batches.remove(match)
    match.name = name
    ledger.batches[name] = match
    return match


def check_batches(client: httpx.Client, ledger: Ledger, violations: Violations, *, settle: bool) -> None:
    """Every job against the ledger; ``settle``: the server restarted since any lost reply."""
    if not ledger.batches and not ledger.maybe_batches:
        return
    where = f"project {ledger.key}"
    key = {"x-goog-api-key": ledger.key}
    listed = list_batches(client, ledger.key)
    for name, item in listed.items():
        job = ledger.batches.get(name) or _adopt(ledger, name, item, violations)
        if job is None:
            continue
        if job.fate == "deleted":
            violations.add(f"{where}: {name} is listed but was deleted")
        elif settle and job.fate == "maybe_deleted":
            job.fate = "acked"
    if settle:
        ledger.maybe_batches.clear()
    for name, job in ledger.batches.items():
        reply = client.get(f"/v1beta/{name}", headers=key)
        if job.fate == "deleted" or (settle and job.fate == "maybe_deleted" and name not in listed):
            job.fate = "deleted"
            if reply.status_code != 404:
                violations.add(f"{where}: deleted {name} answered {reply.status_code} to GET")
            continue
        if reply.status_code != 200:
            if job.fate == "acked":
                violations.add(
                    f"{where}: acknowledged {name} answered {reply.status_code}: {reply.text[:200]}"
                )
            continue
        if job.fate == "acked" and name not in listed:
            violations.add(f"{where}: acknowledged {name} answers GET but is not listed")
        observe(job, reply.json(), violations, where)
        if job.output is not None and not job.verified:
            verify_results(client, ledger, job, violations)


def verify_results(client: httpx.Client, ledger: Ledger, job: ExpectedBatch, violations: Violations) -> None:
    """A file job's results: one line per input line, the input's keys in input order."""
    reply = client.get(
        f"/v1beta/{job.output}:download", params={"alt": "media"}, headers={"x-goog-api-key": ledger.key}
    )
    if reply.status_code != 200:
        if job.output not in ledger.files or ledger.files[job.output].fate == "acked":
            violations.add(f"project {ledger.key}: results {job.output} of {job.name}: {reply.status_code}")
        return  # the client deleted it: nothing more to read
    keys = [json.loads(line).get("key") for line in reply.text.splitlines()]
    if keys != job.keys:
        violations.add(f"project {ledger.key}: results of {job.name} have keys {keys}, expected {job.keys}")
    job.verified = True


def wait_all_done(client: httpx.Client, ledger: Ledger, violations: Violations) -> None:
    """After the last restart: every job still there ends, and ends SUCCEEDED unless a cancel was sent."""
    deadline = time.monotonic() + FINISH_SECONDS
    key = {"x-goog-api-key": ledger.key}
    for job in ledger.batches.values():
        while job.fate == "acked" and not done(job.state):
            reply = client.get(f"/v1beta/{job.name}", headers=key)
            if reply.status_code != 200:
                violations.add(f"project {ledger.key}: {job.name} answered {reply.status_code}")
                break
            observe(job, reply.json(), violations, f"project {ledger.key}")
            if done(job.state):
                break
            if time.monotonic() > deadline:
                violations.add(
                    f"project {ledger.key}: {job.name} still {job.state} {FINISH_SECONDS:.0f} s after the "
                    f"last restart: {reply.text[:300]}"
                )
                break
            time.sleep(0.2)
        if job.fate == "acked" and done(job.state) and job.state != SUCCEEDED and job.cancel is None:
            violations.add(f"project {ledger.key}: {job.name} ended {job.state}")
