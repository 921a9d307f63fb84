"""The crash-torture controller: clients run, the server is killed at a random moment and restarted on the
same data, the clients are held while every invariant is checked, then they go on.

Black-box: only HTTP and the data directory's blob folders are looked at (for orphan bytes).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from tests.torture.batch_ledger import check_batches, list_batches, wait_all_done
from tests.torture.clients import TortureClient
from tests.torture.ledger import CheckFigures, Violations, check_ledger, check_usage, list_all

TORTURE_ENV = {
    "GEMFILES_ALLOW_DOWNLOAD": "true",
    "GEMFILES_EMULATOR_CONTROLS": "true",
    "GEMFILES_FILE_TTL": "30d",
    "GEMFILES_UPLOAD_SESSION_TTL": "1d",
}


class Killable(Protocol):
    url: str

    def kill(self) -> None: ...

    def start(self, timeout: float = 30.0) -> Any: ...


@dataclass
class TortureFigures:
    seed: int = 0
    kills: int = 0
    restarts: int = 0
    invariant_checks: int = 0
    files_verified: int = 0
    bytes_verified: int = 0
    requests: int = 0
    lost_replies: int = 0
    uploads_acknowledged: int = 0
    resent_chunks: int = 0
    resumed_after_query: int = 0
    cancels: int = 0
    deletes: int = 0
    model_calls: int = 0
    batches_created: int = 0  # creates acknowledged
    batch_creates_lost: int = 0  # replies lost: the job may or may not exist
    batch_creates_adopted: int = 0  # of those, the jobs found after the restart
    batch_polls: int = 0
    batch_lists: int = 0
    batch_cancels: int = 0
    batch_deletes: int = 0
    batches_succeeded: int = 0  # at the end, of the jobs not deleted
    batches_cancelled: int = 0
    batch_results_verified: int = 0  # results files and inline answers compared with the input
    batch_final_wait_seconds: float = 0.0  # after the last restart, until every job had ended
    files_at_end: int = 0
    orphans_after_sweep: list[str] = field(default_factory=list)
    scrubbed_objects: int = 0
    scrubbed_uploads: int = 0
    scrubbed_bytes: int = 0
    scrubbed_first: list[str] = field(default_factory=list)
    seconds: float = 0.0


def wait_healthy(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/_internal/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"{url} did not become healthy")


def blob_files(blob_root: Path) -> list[str]:
    """Every file under the local blob store's root, relative to it, and every small file's bytes kept in
    the database beside it (``inline/<key>``)."""
    if not blob_root.exists():
        return []
    files = [str(p.relative_to(blob_root)) for p in blob_root.rglob("*") if p.is_file()]
    return sorted(files) + inline_keys(blob_root)


def inline_keys(blob_root: Path) -> list[str]:
    """The keys of small files' bytes kept in the embedded default's database (storage/inline.py)."""
    database = blob_root.parent / "gemfiles.db"
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
        return [row[0] for row in db.execute("SELECT key FROM inline_blobs ORDER BY key")]


def object_dirs(blob_root: Path) -> list[str]:
    """One entry per stored object: ``objects/<k[:2]>/<key>`` (localdisk.py's layout), a folder of parts,
    or ``<key>.data``, an object written whole; or ``inline/<key>``, a small file's bytes in the database."""
    objects = blob_root / "objects"
    on_disk = (
        [
            str(p.relative_to(blob_root))
            for p in objects.glob("*/*")
            if p.is_dir() or (p.is_file() and p.suffix == ".data")
        ]
        if objects.exists()
        else []
    )
    return sorted(on_disk) + inline_keys(blob_root)


class Torture:
    """Runs ``kills`` kill/restart cycles with ``clients`` concurrent clients against ``servers``.

    ``servers``: one (the embedded default) or several replicas on shared stores; each cycle kills one of
    them at random while the others keep serving. ``blob_root``: the local blob store's root, or None
    when the blobs are not on this machine's disk.
    """

    def __init__(
        self,
        servers: Sequence[Killable],
        *,
        seed: int,
        kills: int,
        clients: int,
        blob_root: Path | None,
        pause: tuple[float, float] = (0.3, 1.2),
        big_files: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        self.servers = list(servers)
        self.rng = random.Random(seed)
        self.kills = kills
        self.blob_root = blob_root
        self.pause = pause
        self.log = log
        self.violations = Violations()
        self.figures = TortureFigures(seed=seed)
        self.check_figures = CheckFigures()
        self.down: set[int] = set()
        self.clients = [
            TortureClient(
                i,
                self._live_url,
                seed,
                self.violations,
                big_files=big_files,
                kills=lambda: self.figures.kills,
                batches=True,
            )
            for i in range(clients)
        ]

    def _live_url(self) -> str:
        live = [s for i, s in enumerate(self.servers) if i not in self.down] or self.servers
        return self.rng.choice(live).url

    @property
    def url(self) -> str:
        return self._live_url()

    # the run ----------------------------------------------------------------------------------------
    def run(self) -> TortureFigures:
        began = time.monotonic()
        for client in self.clients:
            client.thread.start()
        try:
            for cycle in range(self.kills):
                time.sleep(self.rng.uniform(*self.pause))
                self._cycle(cycle)
                if self.violations.items:
                    break
        finally:
            for client in self.clients:
                client.stop.set()
                client.may_run.set()
            for client in self.clients:
                client.thread.join(120)
        if not self.violations.items:
            self._final_checks()
        self._collect()
        self.figures.seconds = round(time.monotonic() - began, 1)
        return self.figures

    def _hold_clients(self) -> None:
        for client in self.clients:
            client.may_run.clear()

    def _wait_paused(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(c.paused.is_set() or not c.thread.is_alive() for c in self.clients):
            if time.monotonic() > deadline:
                stuck = [c.index for c in self.clients if not c.paused.is_set()]
                raise AssertionError(f"clients {stuck} did not pause within {timeout}s (a hung request?)")
            time.sleep(0.01)

    def _cycle(self, cycle: int) -> None:
        victim = self.rng.randrange(len(self.servers))
        if len(self.servers) == 1:
            self._hold_clients()
        else:
            self.down.add(victim)  # new requests go to the other replicas while this one is down
        self.figures.kills += 1  # before the kill: every reply lost from now on has a cause
        self.servers[victim].kill()
        if len(self.servers) > 1:
            # The others keep serving for a moment with one replica dead, then the clients are held.
            time.sleep(self.rng.uniform(0.1, 0.5))
            self._hold_clients()
        self._wait_paused()
        self.servers[victim].start()
        self.down.discard(victim)
        self.figures.restarts += 1
        wait_healthy(self.servers[victim].url)
        self._check_all(settle=True)
        for client in self.clients:
            client.may_run.set()

    def _check_all(self, *, settle: bool) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            for client in self.clients:
                # The jobs first: a results file listed next is then one of a known job.
                check_batches(http, client.ledger, self.violations, settle=settle)
                check_ledger(
                    http,
                    client.ledger,
                    self.violations,
                    self.check_figures,
                    self.rng,
                    settle=settle,
                    usage=True,
                )
            if self.blob_root is not None:
                files = sum(len(list_all(http, c.ledger.key)) for c in self.clients)
                objects = object_dirs(self.blob_root)
                if len(objects) < files:
                    self.violations.add(f"{len(objects)} stored objects for {files} listed files")

    # the end ----------------------------------------------------------------------------------------
    def _sweep_and_scrub(self, http: httpx.Client) -> None:
        """The sweep, then the scrub of orphan bytes with no grace: every client has stopped, so no upload
        is between its bytes and its commit. What the scrub removed is counted in the figures."""
        reply = http.post("/_internal/sweep", json={"scrub": True, "graceSeconds": 0})
        assert reply.status_code == 200, reply.text
        scrub = reply.json()["scrub"]
        self.figures.scrubbed_objects += scrub["removedObjects"]
        self.figures.scrubbed_uploads += scrub["removedUploads"]
        self.figures.scrubbed_bytes += int(scrub["removedBytes"])
        self.figures.scrubbed_first = (self.figures.scrubbed_first + scrub["keys"])[:20]

    def _final_checks(self) -> None:
        """Every session ended (finished or cancelled), hidden ones expired by moving the clock past the
        session TTL, swept and scrubbed: usage is exact and the blob store holds the listed files' bytes and
        no more (asserted: each orphan is a violation)."""
        with httpx.Client(base_url=self.url, timeout=60) as http:
            for client in self.clients:
                session = client.session
                if session is not None:
                    client._cancel(session) if session.unknown is None else client._resolve_by_query(session)
                    if client.session is not None:
                        client._cancel(client.session)
            for client in self.clients:
                check_batches(http, client.ledger, self.violations, settle=True)
                waited = time.monotonic()
                wait_all_done(http, client.ledger, self.violations)
                self.figures.batch_final_wait_seconds += round(time.monotonic() - waited, 2)
                check_batches(http, client.ledger, self.violations, settle=True)
                check_ledger(
                    http,
                    client.ledger,
                    self.violations,
                    self.check_figures,
                    self.rng,
                    settle=True,
                    usage=False,
                )
            for server in self.servers:  # each replica has its own clock offset
                reply = httpx.post(f"{server.url}/_internal/clock", json={"advance": "2d"}, timeout=10)
                assert reply.status_code == 200, reply.text
            self._sweep_and_scrub(http)
            total = inline_inputs = 0
            for client in self.clients:
                listed = list_all(http, client.ledger.key)
                total += len(listed)
                check_usage(http, client.ledger, listed, self.violations, exact=True)
                # An inline job's requests are an object of its own until the job is deleted.
                jobs = list_batches(http, client.ledger.key)
                inline_inputs += sum("inputConfig" not in j["metadata"] for j in jobs.values())
            self.figures.files_at_end = total
            self.figures.invariant_checks = self.check_figures.checks
            orphans: list[str] = []
            if self.blob_root is not None:
                objects = object_dirs(self.blob_root)
                uploads = [f for f in blob_files(self.blob_root) if f.startswith("uploads/")]
                if len(objects) != total + inline_inputs:
                    orphans.append(
                        f"{len(objects)} stored objects (disk and database) for {total} files and "
                        f"{inline_inputs} inline batch inputs"
                    )
                orphans += [f"uploads/ still holds {f} with no live session" for f in uploads]
            # Delete everything (the jobs, then the files, results included): then no byte may stay behind.
            for client in self.clients:
                for name in list_batches(http, client.ledger.key):
                    reply = http.delete(f"/v1beta/{name}", headers={"x-goog-api-key": client.ledger.key})
                    assert reply.status_code == 200, reply.text
                    if name in client.ledger.batches:  # else: a violation already
                        client.ledger.batches[name].fate = "deleted"
                for name in list_all(http, client.ledger.key):
                    reply = http.delete(f"/v1beta/{name}", headers={"x-goog-api-key": client.ledger.key})
                    assert reply.status_code == 200, reply.text
                    client.ledger.files[name].fate = "deleted"
            self._sweep_and_scrub(http)
            for client in self.clients:
                check_usage(http, client.ledger, {}, self.violations, exact=True)
            if self.blob_root is not None:
                left = blob_files(self.blob_root)
                orphans += [f"after deleting every file and sweeping: {f}" for f in left]
            self.figures.orphans_after_sweep = orphans
            for orphan in orphans:
                self.violations.add(f"orphan bytes after the sweep and the scrub: {orphan}")

    def _collect(self) -> None:
        f = self.figures
        f.invariant_checks = self.check_figures.checks
        f.files_verified = self.check_figures.files_verified
        f.bytes_verified = self.check_figures.bytes_verified
        for client in self.clients:
            c = client.counters
            f.requests += c.requests
            f.lost_replies += c.lost
            f.uploads_acknowledged += c.uploads_acked
            f.resent_chunks += c.resent_chunks
            f.resumed_after_query += c.resumed_after_query
            f.cancels += c.cancels
            f.deletes += c.deletes
            f.model_calls += c.model_calls
            f.batches_created += c.batches_acked
            f.batch_creates_lost += c.batch_creates_lost
            f.batch_creates_adopted += len(client.ledger.batches) - c.batches_acked
            f.batch_polls += c.batch_polls
            f.batch_lists += c.batch_lists
            f.batch_cancels += c.batch_cancels
            f.batch_deletes += c.batch_deletes
            jobs = client.ledger.batches.values()
            f.batches_succeeded += sum(b.state == "BATCH_STATE_SUCCEEDED" for b in jobs)
            f.batches_cancelled += sum(b.state == "BATCH_STATE_CANCELLED" for b in jobs)
            f.batch_results_verified += sum(b.verified for b in jobs)


@contextlib.contextmanager
def running(servers: Sequence[Killable]) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()  # type: ignore[attr-defined]
