"""A torture client's batch jobs, over the wire API (README "Batch jobs"): create one with inline requests
or from an uploaded JSONL whose lines use the client's files, poll it, list the jobs, cancel or delete one.

What the client learns goes into its ledger (``ExpectedBatch``); tests/torture/batch_ledger.py checks it.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import httpx

from tests.torture.batch_ledger import done, observe
from tests.torture.ledger import ExpectedBatch, Ledger, Lost, Violations

if TYPE_CHECKING:
    from tests.torture.clients import Counters

MODEL = "gemini-2.5-flash"  # routed to the `inspect` backend (the default route), as generateContent is
CREATE = f"/v1beta/models/{MODEL}:batchGenerateContent"


class BatchOps:
    """Mixed into ``TortureClient``: these are the attributes and methods it provides."""

    index: int
    rng: random.Random
    ledger: Ledger
    violations: Violations
    counters: Counters

    def _request(self, method: str, path_or_url: str, **kwargs: Any) -> httpx.Response:
        raise NotImplementedError

    def _key(self) -> dict[str, str]:
        raise NotImplementedError

    def _one_shot(self, *, multipart: bool, data: bytes | None = None, mime: str | None = None) -> str | None:
        raise NotImplementedError

    # the step ---------------------------------------------------------------------------------------
    def _batch_step(self) -> None:
        known = [b for b in self.ledger.batches.values() if b.fate == "acked"]
        ended = [b for b in known if done(b.state)]
        roll = self.rng.random()
        if known and roll < 0.35:
            self._poll_batch(self.rng.choice(known))
        elif ended and roll < 0.45:
            self._delete_batch(self.rng.choice(ended))
        elif known and roll < 0.55:
            self._list_batches()
        else:
            job = self._create_batch(inline=self.rng.random() < 0.5)
            roll = self.rng.random()
            if job is not None and roll < 0.2:
                self._cancel_batch(job)  # most likely still PENDING or RUNNING: a race with the runner
            elif job is not None and roll < 0.3:
                self._delete_batch(job)

    def _where(self) -> str:
        return f"client {self.index}"

    def _lines(self, count: int) -> list[dict[str, Any]]:
        """Requests, half of them on one of the client's files (a file deleted meanwhile makes that line an
        error line: still answered, still counted)."""
        acked = [n for n, e in self.ledger.files.items() if e.fate == "acked"]
        requests = []
        for i in range(count):
            parts: list[dict[str, Any]] = [{"text": f"line {i}: what is in this file?"}]
            if acked and self.rng.random() < 0.5:
                parts.insert(0, {"fileData": {"fileUri": self.rng.choice(acked)}})
            requests.append({"contents": [{"role": "user", "parts": parts}]})
        return requests

    def _create_batch(self, *, inline: bool) -> ExpectedBatch | None:
        self.counters.batch_creates += 1
        label = f"torture-{self.index}-{len(self.ledger.batches) + len(self.ledger.maybe_batches)}"
        label += f"-{self.rng.randrange(10**9)}"
        requests = self._lines(self.rng.randint(1, 6))
        keys = [f"{label}-k{i}" for i in range(len(requests))]
        input_file: str | None = None
        config: dict[str, Any]
        if inline:
            keys = [str(i) for i in range(len(requests))]
            items = [{"request": r, "metadata": {"i": i}} for i, r in enumerate(requests)]
            config = {"requests": {"requests": items}}
        else:
            data = b"".join(
                json.dumps({"key": k, "request": r}).encode() + b"\n"
                for k, r in zip(keys, requests, strict=True)
            )
            input_file = self._one_shot(multipart=True, data=data, mime="application/jsonl")
            if input_file is None:
                return None
            config = {"fileName": input_file}
        job = ExpectedBatch("", label, input_file, keys)
        body = {"batch": {"displayName": label, "inputConfig": config}}
        try:
            reply = self._request("POST", CREATE, json=body, headers=self._key())
        except Lost:
            self.counters.batch_creates_lost += 1
            self.ledger.maybe_batches.append(job)
            raise
        if reply.status_code != 200:
            self.violations.add(
                f"{self._where()}: batch create answered {reply.status_code}: {reply.text[:200]}"
            )
            return None
        job.name = reply.json()["name"]
        self.ledger.batches[job.name] = job
        self.counters.batches_acked += 1
        observe(job, reply.json(), self.violations, self._where())
        return job

    def _poll_batch(self, job: ExpectedBatch) -> None:
        self.counters.batch_polls += 1
        reply = self._request("GET", f"/v1beta/{job.name}", headers=self._key())
        if reply.status_code != 200:
            self.violations.add(
                f"{self._where()}: acknowledged {job.name} answered {reply.status_code} to GET"
            )
            return
        observe(job, reply.json(), self.violations, self._where())
        roll = self.rng.random()
        if not done(job.state) and roll < 0.3:
            self._cancel_batch(job)
        elif roll < 0.4:
            self._delete_batch(job)

    def _cancel_batch(self, job: ExpectedBatch) -> None:
        self.counters.batch_cancels += 1
        job.cancel = "sent"
        reply = self._request("POST", f"/v1beta/{job.name}:cancel", headers=self._key())
        if reply.status_code == 200:
            job.cancel = "acked"
        elif reply.status_code != 400 or reply.json()["error"]["status"] != "FAILED_PRECONDITION":
            self.violations.add(
                f"{self._where()}: cancel of {job.name}: {reply.status_code} {reply.text[:200]}"
            )
            return
        after = self._request("GET", f"/v1beta/{job.name}", headers=self._key())
        if after.status_code == 200:
            observe(job, after.json(), self.violations, self._where())
        if after.status_code != 200 or not done(job.state):
            # Cancelled (or already ended when the cancel came): it has ended either way.
            self.violations.add(
                f"{self._where()}: {job.name} after its cancel ({reply.status_code}): "
                f"{after.status_code} {job.state}"
            )

    def _delete_batch(self, job: ExpectedBatch) -> None:
        self.counters.batch_deletes += 1
        job.fate = "maybe_deleted"
        reply = self._request("DELETE", f"/v1beta/{job.name}", headers=self._key())
        if reply.status_code != 200:
            self.violations.add(f"{self._where()}: delete of {job.name} answered {reply.status_code}")
            return
        job.fate = "deleted"
        gone = self._request("GET", f"/v1beta/{job.name}", headers=self._key())
        if gone.status_code != 404:
            self.violations.add(f"{self._where()}: {job.name} deleted but GET answered {gone.status_code}")

    def _list_batches(self) -> None:
        """Every page of ``GET /v1beta/batches``: each job the client knows is there, no state gone back."""
        self.counters.batch_lists += 1
        listed: dict[str, dict[str, Any]] = {}
        token = ""
        while True:
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            reply = self._request("GET", "/v1beta/batches", params=params, headers=self._key())
            if reply.status_code != 200:
                self.violations.add(f"{self._where()}: batch list answered {reply.status_code}")
                return
            listed |= {item["name"]: item for item in reply.json().get("operations", [])}
            token = reply.json().get("nextPageToken", "")
            if not token:
                break
        for name, job in self.ledger.batches.items():
            if job.fate != "acked":
                continue
            if name not in listed:
                self.violations.add(f"{self._where()}: acknowledged {name} is not listed")
                continue
            observe(job, listed[name], self.violations, self._where())

    def protected_inputs(self) -> set[str]:
        """Input files of jobs not seen ended: deleting one would fail its job (rightly), so the client
        keeps them until then."""
        jobs = [*self.ledger.batches.values(), *self.ledger.maybe_batches]
        return {b.input_file for b in jobs if b.input_file and b.fate != "deleted" and not done(b.state)}
