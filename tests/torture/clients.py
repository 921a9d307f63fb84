"""A torture client: one thread, one project, random operations over plain HTTP.

Each step is one or two requests. A request that fails in transport (the server was killed under it) leaves
its outcome unknown; the client records that in its ledger and, once the server is back, finds out with
``query`` (resumable uploads) or lets the next check decide (one-shot uploads, deletes).
"""

from __future__ import annotations

import hashlib
import json
import random
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.torture.batch_ops import BatchOps
from tests.torture.ledger import Expected, Ledger, Lost, Session, Violations, sha256_hash

KIB = 1024
MIB = 1024 * KIB
GRAIN = 256 * KIB
START_PATH = "/upload/v1beta/files"
MIME_TYPES = ("text/plain", "application/json", "text/csv")


def random_size(rng: random.Random, big: bool) -> int:
    roll = rng.random()
    if roll < 0.08:
        return 0
    if roll < 0.35:
        return rng.randint(1, 4 * KIB)
    if roll < 0.75:
        return rng.randint(4 * KIB, MIB)
    if roll < 0.95 or not big:
        return rng.randint(MIB, 4 * MIB)
    return rng.randint(8 * MIB + 1, 9 * MIB)


def random_bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def new_name(rng: random.Random) -> str:
    return "files/" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(16))


@dataclass
class Counters:
    requests: int = 0
    lost: int = 0
    uploads_acked: int = 0
    resent_chunks: int = 0
    resumed_after_query: int = 0
    cancels: int = 0
    deletes: int = 0
    lists: int = 0
    model_calls: int = 0
    batch_creates: int = 0  # sent
    batches_acked: int = 0
    batch_creates_lost: int = 0
    batch_polls: int = 0
    batch_cancels: int = 0
    batch_deletes: int = 0
    batch_lists: int = 0


class TortureClient(BatchOps):
    def __init__(
        self,
        index: int,
        base_url: Callable[[], str],
        seed: int,
        violations: Violations,
        *,
        big_files: bool = True,
        max_files: int | None = None,
        kills: Callable[[], int] = lambda: 0,
        batches: bool = False,
    ) -> None:
        self.index = index
        self.kills = kills  # how many kills the controller has begun: a lost reply needs one
        self._kills_at_step = 0
        self.rng = random.Random(seed * 1000 + index)
        self.ledger = Ledger(key=f"torture-{seed}-{index}-{uuid.uuid4().hex[:6]}")
        self.base_url = base_url
        self.violations = violations
        self.counters = Counters()
        self.big_files = big_files
        self.max_files = max_files  # a soak keeps each project's files under this by deleting
        self.batches = batches  # batch jobs among the operations (tests/torture/batch_ops.py)
        self.session: Session | None = None
        self.stop = threading.Event()
        self.paused = threading.Event()  # set by the client when it is idle and may be checked
        self.may_run = threading.Event()
        self.may_run.set()
        self.thread = threading.Thread(target=self._run, name=f"torture-client-{index}", daemon=True)

    # requests ---------------------------------------------------------------------------------------
    def _request(self, method: str, path_or_url: str, **kwargs: Any) -> httpx.Response:
        self.counters.requests += 1
        url = path_or_url if path_or_url.startswith("http") else self.base_url() + path_or_url
        try:
            reply = httpx.request(method, url, timeout=60, **kwargs)
        except httpx.TransportError as exc:
            self.counters.lost += 1
            if self.kills() == self._kills_at_step:  # read before any URL of this step was chosen
                self.violations.add(
                    f"client {self.index}: {method} {url} failed with no kill (kills {self._kills_at_step}, "
                    f"t {time.monotonic():.2f}): {exc!r}"
                )
            raise Lost(f"{type(exc).__name__}: {exc}") from None
        if reply.status_code >= 500 and reply.status_code != 503:
            self.violations.add(
                f"client {self.index}: {method} {url} answered {reply.status_code}: {reply.text[:300]}"
            )
        if reply.status_code >= 400:
            self._check_envelope(method, url, reply)
        return reply

    def _check_envelope(self, method: str, url: str, reply: httpx.Response) -> None:
        try:
            error = reply.json()["error"]
            assert error["code"] == reply.status_code and error["message"] and error["status"]
        except Exception:
            self.violations.add(
                f"client {self.index}: {method} {url}: not Google's envelope: {reply.text[:200]}"
            )

    def _key(self) -> dict[str, str]:
        return {"x-goog-api-key": self.ledger.key}

    # the loop ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.may_run.is_set():
                self.paused.set()
                self.may_run.wait(0.1)
                self.paused.clear()
                continue
            try:
                self.step()
            except Lost:
                # Its server was killed. Alone, it waits for the controller to restart and check it;
                # with replicas, the next request goes to one that is alive.
                self.paused.set()
                while not self.stop.is_set() and not self.may_run.wait(0.1):
                    pass
                self.paused.clear()
            except Exception as exc:  # a bug of the harness or an unexpected reply: keep it, go on
                self.violations.add(f"client {self.index}: {type(exc).__name__}: {exc}")
        self.paused.set()

    def step(self) -> None:
        self._kills_at_step = self.kills()
        if self.session is not None:
            self._continue_upload(self.session)
            return
        roll = self.rng.random()
        kept = self.protected_inputs()
        acked = [n for n, e in self.ledger.files.items() if e.fate == "acked" and n not in kept]
        if self.max_files is not None and len(acked) > self.max_files:
            self._delete(self.rng.choice(acked))
        elif roll < 0.45:
            self._start_resumable()
        elif roll < 0.58:
            self._one_shot(multipart=True)
        elif roll < 0.68:
            self._one_shot(multipart=False)
        elif roll < 0.78 and acked:
            self._delete(self.rng.choice(acked))
        elif roll < 0.88 and acked:
            self._generate(self.rng.choice(acked))
        elif self.batches and roll < 0.97:
            self._batch_step()
        else:
            self._list()

    # uploads ----------------------------------------------------------------------------------------
    def _start_resumable(self) -> None:
        size = random_size(self.rng, self.big_files)
        data = random_bytes(self.rng, size)
        name = new_name(self.rng)
        body = {"file": {"name": name, "displayName": f"torture {size}"}}
        headers = {
            **self._key(),
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": self.rng.choice(MIME_TYPES),
            "Content-Type": "application/json",
        }
        # The file's fate is "never" until a finalize is sent: a lost start leaves a session no one knows.
        self.ledger.files[name] = Expected(size, hashlib.sha256(data).hexdigest(), "never")
        try:
            reply = self._request("POST", START_PATH, content=json.dumps(body), headers=headers)
        except Lost:
            self.ledger.hidden_reservations.append(size)
            raise
        if reply.status_code != 200:
            self.violations.add(
                f"client {self.index}: start answered {reply.status_code}: {reply.text[:200]}"
            )
            return
        self.session = Session(url=reply.headers["x-goog-upload-url"], name=name, data=data)
        self.ledger.sessions.append(self.session)

    def _send(self, session: Session, command: str, start: int, end: int) -> httpx.Response:
        headers = {
            "X-Goog-Upload-Command": command,
            "X-Goog-Upload-Offset": str(start),
            "Content-Type": "application/json",  # what the Python SDK sends with chunk bytes
        }
        return self._request(
            "POST", self._upload_url(session), content=session.data[start:end], headers=headers
        )

    def _upload_url(self, session: Session) -> str:
        """The session's URL on a live server: replicas share the sessions, any of them takes the chunk."""
        parts = urlsplit(session.url)
        return self.base_url() + parts.path + "?" + parts.query

    def _continue_upload(self, session: Session) -> None:
        if session.unknown is not None:
            self._resolve_by_query(session)
            return
        roll = self.rng.random()
        if roll < 0.04:
            self._cancel(session)
            return
        if roll < 0.10:
            self._query(session, expect=session.acked)
            return
        total = len(session.data)
        start = session.acked
        end = min(total, start + GRAIN * self.rng.randint(1, 8))
        if self.rng.random() < 0.15:
            end = min(total, start + self.rng.randint(1, 3 * GRAIN))  # a chunk of no particular grain
        last = end == total
        command = "upload, finalize" if last else "upload"
        if last and start == total and self.rng.random() < 0.5:
            command = "finalize"
        session.sent, session.unknown = end, ("finalize" if last else "chunk")
        if last:
            self.ledger.files[session.name].fate = "maybe"  # until a reply (or a query) says final
        reply = self._send(session, command, start, end)
        if self.rng.random() < 0.12:
            # The reply is "lost": the same chunk again must be answered as the first was.
            self.counters.resent_chunks += 1
            reply = self._send(session, command, start, end)
        self._accept_chunk_reply(session, reply, end, last)

    def _accept_chunk_reply(self, session: Session, reply: httpx.Response, end: int, last: bool) -> None:
        status = reply.headers.get("x-goog-upload-status")
        where = f"client {self.index} upload {session.name} chunk to {end}"
        if reply.status_code != 200:
            self.violations.add(f"{where}: {reply.status_code} {status} {reply.text[:200]}")
            self._drop_session(session, "never")
            return
        session.unknown = session.sent = None
        if last:
            if status != "final":
                self.violations.add(f"{where}: finalize answered status {status}")
                return
            self._acknowledge(session, reply.json()["file"])
            return
        if status != "active" or reply.headers.get("x-goog-upload-size-received") != str(end):
            self.violations.add(
                f"{where}: answered {status} {reply.headers.get('x-goog-upload-size-received')}"
            )
        session.acked = end

    def _acknowledge(self, session: Session, file: dict[str, Any]) -> None:
        expected = self.ledger.files[session.name]
        got = (file.get("name"), int(file.get("sizeBytes", "0")), file.get("sha256Hash"))
        want = (session.name, expected.size, sha256_hash(expected.sha256))
        if got != want:
            self.violations.add(f"client {self.index}: finalize answered {got}, expected {want}")
        expected.fate = "acked"
        self.counters.uploads_acked += 1
        self._drop_session(session, None)

    def _drop_session(self, session: Session, fate: str | None) -> None:
        if fate is not None:
            self.ledger.files[session.name].fate = fate
        if session in self.ledger.sessions:
            self.ledger.sessions.remove(session)
        self.session = None

    def _query(self, session: Session, expect: int) -> None:
        reply = self._send_command(session, "query")
        if reply.headers.get("x-goog-upload-status") != "active" or reply.headers.get(
            "x-goog-upload-size-received"
        ) != str(expect):
            self.violations.add(
                f"client {self.index}: query of {session.name} answered "
                f"{reply.status_code} {reply.headers.get('x-goog-upload-status')} "
                f"{reply.headers.get('x-goog-upload-size-received')}, expected active {expect}"
            )

    def _send_command(self, session: Session, command: str) -> httpx.Response:
        return self._request("POST", self._upload_url(session), headers={"X-Goog-Upload-Command": command})

    def _resolve_by_query(self, session: Session) -> None:
        """After a lost reply: the offset ``query`` reports is where the upload goes on (and must be one of
        the two the client could have caused)."""
        lost, sent = session.unknown, session.sent
        reply = self._send_command(session, "query")
        status = reply.headers.get("x-goog-upload-status")
        where = f"client {self.index}: query of {session.name} after a lost {lost}"
        self.counters.resumed_after_query += 1
        if lost == "cancel":
            if status == "cancelled" or reply.status_code == 404:
                self._drop_session(session, "never")
                return
        if status == "final" and reply.status_code == 200 and lost == "finalize":
            self._acknowledge(session, reply.json()["file"])
            return
        if status != "active" or reply.status_code != 200:
            self.violations.add(f"{where}: {reply.status_code} {status} {reply.text[:200]}")
            self._drop_session(session, "maybe")
            return
        received = int(reply.headers.get("x-goog-upload-size-received", "-1"))
        if received not in (session.acked, sent):
            self.violations.add(f"{where}: received {received}, expected {session.acked} or {sent}")
            self._drop_session(session, "maybe")
            return
        if lost == "finalize":
            self.ledger.files[session.name].fate = "never"  # not final: no file yet
        session.acked, session.unknown, session.sent = received, None, None

    def _cancel(self, session: Session) -> None:
        self.counters.cancels += 1
        session.unknown = "cancel"
        reply = self._send_command(session, "cancel")
        if reply.status_code != 200 or reply.headers.get("x-goog-upload-status") != "cancelled":
            self.violations.add(
                f"client {self.index}: cancel answered {reply.status_code} {reply.text[:200]}"
            )
        self._drop_session(session, "never")

    def _one_shot(self, *, multipart: bool, data: bytes | None = None, mime: str | None = None) -> str | None:
        """A multipart or raw upload of random bytes (or ``data``); the file's name once acknowledged."""
        if data is None:
            data = random_bytes(self.rng, random_size(self.rng, big=False))
        size = len(data)
        digest = hashlib.sha256(data).hexdigest()
        mime = mime or self.rng.choice(MIME_TYPES)
        if multipart:
            name = new_name(self.rng)
            boundary = uuid.uuid4().hex
            meta = {"file": {"name": name, "mimeType": mime, "sizeBytes": str(size)}}
            content = (
                (
                    f"--{boundary}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{json.dumps(meta)}\r\n"
                    f"--{boundary}\r\nContent-Type: {mime}\r\n\r\n"
                ).encode()
                + data
                + f"\r\n--{boundary}--\r\n".encode()
            )
            headers = {
                **self._key(),
                "X-Goog-Upload-Protocol": "multipart",
                "Content-Type": f"multipart/related; boundary={boundary}",
            }
            self.ledger.files[name] = Expected(size, digest, "maybe")
        else:
            content = data
            headers = {**self._key(), "X-Goog-Upload-Protocol": "raw", "Content-Type": mime}
        try:
            reply = self._request("POST", START_PATH, content=content, headers=headers)
        except Lost:
            if multipart:
                self.ledger.hidden_reservations.append(size)
            else:
                self.ledger.maybe_raw.append((size, digest))
            raise
        if reply.status_code != 200:
            self.violations.add(
                f"client {self.index}: one-shot upload answered {reply.status_code}: {reply.text[:200]}"
            )
            if multipart:
                self.ledger.files[name].fate = "never"
            return None
        file = reply.json()["file"]
        got = (int(file.get("sizeBytes", "0")), file.get("sha256Hash"))
        if got != (size, sha256_hash(digest)) or (multipart and file["name"] != name):
            self.violations.add(
                f"client {self.index}: one-shot upload answered {file}, expected {size} {digest}"
            )
        self.ledger.files[file["name"]] = Expected(size, digest, "acked")
        self.counters.uploads_acked += 1
        return str(file["name"])

    # other calls ------------------------------------------------------------------------------------
    def _delete(self, name: str) -> None:
        self.counters.deletes += 1
        self.ledger.files[name].fate = "maybe_deleted"
        reply = self._request("DELETE", f"/v1beta/{name}", headers=self._key())
        if reply.status_code != 200:
            self.violations.add(f"client {self.index}: delete of acked {name} answered {reply.status_code}")
            return
        self.ledger.files[name].fate = "deleted"
        gone = self._request("GET", f"/v1beta/{name}", headers=self._key())
        if gone.status_code != 403:
            self.violations.add(f"client {self.index}: {name} deleted but GET answered {gone.status_code}")

    def _generate(self, name: str) -> None:
        self.counters.model_calls += 1
        file = self._request("GET", f"/v1beta/{name}", headers=self._key())
        if file.status_code != 200:
            self.violations.add(f"client {self.index}: acked {name} answered {file.status_code} to GET")
            return
        body = {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"fileData": {"fileUri": file.json()["uri"], "mimeType": file.json()["mimeType"]}},
                        {"text": "What is in this file?"},
                    ],
                }
            ]
        }
        reply = self._request(
            "POST", "/v1beta/models/gemini-2.5-flash:generateContent", json=body, headers=self._key()
        )
        if reply.status_code not in (200, 400):
            self.violations.add(
                f"client {self.index}: generateContent on {name}: {reply.status_code} {reply.text[:200]}"
            )

    def _list(self) -> None:
        self.counters.lists += 1
        reply = self._request("GET", "/v1beta/files", params={"pageSize": "100"}, headers=self._key())
        if reply.status_code != 200:
            self.violations.add(f"client {self.index}: list answered {reply.status_code}")
