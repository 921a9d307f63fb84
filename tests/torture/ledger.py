"""What a client knows was acknowledged, and the invariants checked against a live server.

One ``Ledger`` per project (API key), owned by one client thread; the controller reads it only while the
clients are paused. Every file the client ever asked for has a fate:

- ``acked``: its creation was acknowledged (a finalize reply, a ``query`` answering ``final``, a one-shot
  upload's reply). It must be listed with its size and SHA-256, and its bytes must be intact.
- ``maybe``: the reply to the request that would create it was lost (the server died). At the next check
  it is either listed (then with the right bytes: it becomes ``acked``) or not (then it never may appear).
- ``never``: no file may have this name: its session was cancelled, its start reply was lost, or a
  ``maybe`` turned out absent.
- ``deleted`` / ``maybe_deleted``: the same for deletes.

Batch jobs have the same fates (``ExpectedBatch``); a job's results file is a generated File, named by the
server, whose ``displayName`` is ``batches/{id}-output``: it is adopted as ``acked`` when first listed, at
most one per job (tests/torture/batch_ledger.py checks the jobs themselves).
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx


class Lost(Exception):
    """The reply never arrived: the server died under the request (or it hung past the timeout)."""


def sha256_hash(hex_digest: str) -> str:
    """Google's ``sha256Hash``: base64 of the lowercase hex digest."""
    return base64.b64encode(hex_digest.encode()).decode()


@dataclass
class Expected:
    size: int
    sha256: str  # hex
    fate: str  # acked | maybe | never | deleted | maybe_deleted
    verified: bool = False  # bytes downloaded and compared once


@dataclass
class Session:
    """A resumable upload this client started (its start reply arrived)."""

    url: str
    name: str
    data: bytes
    acked: int = 0  # the offset the server last confirmed
    sent: int | None = None  # end offset of a request whose reply was lost
    unknown: str | None = None  # the lost request: "chunk", "finalize", "cancel"


@dataclass
class ExpectedBatch:
    """A batch job this client created. ``keys``: the input lines' keys (file input) or the inline
    requests' ``metadata.i``, in order; its results must answer each once, in that order."""

    name: str  # "" until known (a lost create)
    label: str  # its displayName, unique: how a lost create is recognized
    input_file: str | None  # None: inline requests
    keys: list[str]
    fate: str = "acked"  # acked | deleted | maybe_deleted (never: a lost create not seen after a restart)
    state: str = "BATCH_STATE_PENDING"  # the furthest state seen
    cancel: str | None = None  # "sent" (reply lost) or "acked": it may end CANCELLED
    output: str | None = None  # its results file, once seen
    verified: bool = False  # its results read back and compared once


@dataclass
class Ledger:
    key: str
    files: dict[str, Expected] = field(default_factory=dict)
    # One-shot raw uploads whose reply was lost: (size, sha256 hex); their names are unknown.
    maybe_raw: list[tuple[int, str]] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)  # live sessions known by URL
    # Reservations of sessions the client cannot see (lost start replies, one-shot uploads cut off):
    hidden_reservations: list[int] = field(default_factory=list)
    unbounded_hidden: bool = False  # a raw upload cut off: its session reserves what it had received
    batches: dict[str, ExpectedBatch] = field(default_factory=dict)
    # Batch creates whose reply was lost (name unknown): each may appear once, then it is adopted.
    maybe_batches: list[ExpectedBatch] = field(default_factory=list)


class Violations:
    """Every broken invariant, with enough context to read the report; shared by all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[str] = []

    def add(self, message: str) -> None:
        with self._lock:
            self.items.append(message)


def list_all(client: httpx.Client, key: str) -> dict[str, dict[str, Any]]:
    listed: dict[str, dict[str, Any]] = {}
    token = ""
    while True:
        params = {"pageSize": "100", **({"pageToken": token} if token else {})}
        reply = client.get("/v1beta/files", params=params, headers={"x-goog-api-key": key})
        reply.raise_for_status()
        body = reply.json()
        for item in body.get("files", []):
            listed[item["name"]] = item
        token = body.get("nextPageToken", "")
        if not token:
            return listed


def download_sha256(client: httpx.Client, key: str, name: str) -> str:
    digest = hashlib.sha256()
    with client.stream(
        "GET", f"/v1beta/{name}:download", params={"alt": "media"}, headers={"x-goog-api-key": key}
    ) as reply:
        if reply.status_code != 200:
            reply.read()
            raise AssertionError(f"download of {name}: {reply.status_code} {reply.text[:200]}")
        for block in reply.iter_bytes():
            digest.update(block)
    return digest.hexdigest()


def _subset_sums(values: list[int], limit: int = 18) -> set[int] | None:
    if len(values) > limit:
        return None
    sums = {0}
    for value in values:
        sums |= {s + value for s in sums}
    return sums


@dataclass
class CheckFigures:
    checks: int = 0
    files_verified: int = 0
    bytes_verified: int = 0


def check_ledger(
    client: httpx.Client,
    ledger: Ledger,
    violations: Violations,
    figures: CheckFigures,
    rng: random.Random,
    *,
    settle: bool,
    usage: bool,
    sample: int = 2,
) -> None:
    """Compares the server with the ledger. ``settle``: the server was restarted since the lost replies, so
    every ``maybe`` is decided now (no request of this client is in flight)."""
    listed = list_all(client, ledger.key)
    where = f"project {ledger.key}"
    for name, item in listed.items():
        expected = ledger.files.get(name)
        size, sha = int(item.get("sizeBytes", "0")), item.get("sha256Hash")
        if expected is None and adopt_results(ledger, name, item, violations):
            expected = ledger.files[name]
        if expected is None:
            match = next((c for c in ledger.maybe_raw if c[0] == size and sha256_hash(c[1]) == sha), None)
            if match is None:
                violations.add(f"{where}: {name} ({size} bytes) is listed but no upload produced it")
                continue
            ledger.maybe_raw.remove(match)
            expected = ledger.files[name] = Expected(size, match[1], "acked")
        if expected.fate in ("never", "deleted"):
            violations.add(f"{where}: {name} is listed but its fate is {expected.fate}")
            continue
        if (size, sha) != (expected.size, sha256_hash(expected.sha256)):
            violations.add(
                f"{where}: {name} listed as {size} bytes {sha}, expected {expected.size} bytes "
                f"{sha256_hash(expected.sha256)}"
            )
        if settle and expected.fate in ("maybe", "maybe_deleted"):
            expected.fate = "acked"
    for name, expected in ledger.files.items():
        if name in listed:
            continue
        if expected.fate == "acked":
            violations.add(f"{where}: {name} was acknowledged ({expected.size} bytes) but is not listed")
        elif settle and expected.fate == "maybe":
            expected.fate = "never"
        elif settle and expected.fate == "maybe_deleted":
            expected.fate = "deleted"
    if settle and ledger.maybe_raw:
        ledger.maybe_raw.clear()
        ledger.unbounded_hidden = True  # cut off before its file was recorded: its session holds bytes
    # Bytes: every file not yet verified, and a sample of the others.
    present = [n for n in listed if n in ledger.files and ledger.files[n].fate == "acked"]
    todo = [n for n in present if not ledger.files[n].verified]
    done = [n for n in present if ledger.files[n].verified]
    todo += rng.sample(done, min(sample, len(done)))
    for name in todo:
        expected = ledger.files[name]
        try:
            got = download_sha256(client, ledger.key, name)
        except AssertionError as exc:
            violations.add(f"{where}: {exc}")
            continue
        if got != expected.sha256:
            violations.add(f"{where}: {name}: downloaded bytes hash to {got}, expected {expected.sha256}")
        expected.verified = True
        figures.files_verified += 1
        figures.bytes_verified += expected.size
    if usage:
        check_usage(client, ledger, listed, violations)
    figures.checks += 1


def adopt_results(ledger: Ledger, name: str, item: dict[str, Any], violations: Violations) -> bool:
    """A generated File named by the server: the results file of one of this client's batch jobs (at most
    one per job), adopted as acknowledged with the size and hash it is listed with (its bytes are then
    downloaded and compared like every file's, and its lines by tests/torture/batch_ledger.py)."""
    label = str(item.get("displayName", ""))
    job = ledger.batches.get(label.removesuffix("-output"))
    if item.get("source") != "GENERATED" or not label.endswith("-output") or job is None:
        return False
    if job.input_file is None or job.output not in (None, name):
        violations.add(
            f"project {ledger.key}: {name} is listed as results of {job.name}, which has {job.output}"
        )
        return False
    job.output = name
    sha = base64.b64decode(item.get("sha256Hash", "")).decode()
    ledger.files[name] = Expected(int(item.get("sizeBytes", "0")), sha, "acked")
    return True


def check_usage(
    client: httpx.Client,
    ledger: Ledger,
    listed: dict[str, dict[str, Any]],
    violations: Violations,
    *,
    exact: bool = False,
) -> None:
    used, reserved, listed = _usage_between_lists(client, ledger, listed)
    where = f"project {ledger.key}"
    files_total = sum(int(item.get("sizeBytes", "0")) for item in listed.values())
    if used != files_total:  # a results file is inserted and counted in one transaction
        violations.add(f"{where}: usedBytes {used} != {files_total}, the sum of its listed files' sizes")
    # A session whose finalize or cancel reply was lost may have ended (its reservation released).
    known = sum(len(s.data) for s in ledger.sessions if s.unknown not in ("finalize", "cancel"))
    uncertain = [len(s.data) for s in ledger.sessions if s.unknown in ("finalize", "cancel")]
    if exact:
        if reserved != known:
            violations.add(f"{where}: reservedBytes {reserved} != {known} declared by its live sessions")
        return
    extra = reserved - known
    if extra < 0:
        violations.add(f"{where}: reservedBytes {reserved} < {known} declared by its live sessions")
        return
    if ledger.unbounded_hidden:
        return
    candidates = ledger.hidden_reservations + uncertain
    sums = _subset_sums(candidates)
    if sums is not None and extra not in sums:
        violations.add(
            f"{where}: reservedBytes {reserved} = {known} of live sessions + {extra}, which no set of its "
            f"possibly live hidden sessions ({candidates}) adds up to"
        )


def _usage_between_lists(
    client: httpx.Client, ledger: Ledger, listed: dict[str, dict[str, Any]]
) -> tuple[int, int, dict[str, dict[str, Any]]]:
    """(usedBytes, reservedBytes, the files then). Batch jobs go on running while the clients are held, and
    a job that ends adds its results file: usage is read between two listings that agree."""
    for _ in range(10):
        reply = client.get("/_internal/usage", headers={"x-goog-api-key": ledger.key})
        reply.raise_for_status()
        used, reserved = int(reply.json()["usedBytes"]), int(reply.json()["reservedBytes"])
        if not ledger.batches and not ledger.maybe_batches:
            return used, reserved, listed
        again = list_all(client, ledger.key)
        if again.keys() == listed.keys():
            return used, reserved, listed
        listed = again
    raise AssertionError(f"project {ledger.key}: its files kept changing while its clients were held")
