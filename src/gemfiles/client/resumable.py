"""One file's resumable upload (WIRE.md section 5): start or resume, chunks, retries, the SHA-256 check.

Resuming: the upload URL is kept in a state file (state.py) from the moment the session starts. Run again,
the client asks the server where the session stands (``X-Goog-Upload-Command: query``) and goes on from the
offset it reports, or takes the File if the session had already finished. A lost connection, a 5xx while the
session is still ``active`` and a 429 are retried the same way within one run: wait, ``query``, go on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from gemfiles.client.api import DEFAULT_CHUNK_SIZE, FilesApi, transient
from gemfiles.client.failures import (
    INTERRUPTED,
    OK,
    ApiFailure,
    ClientFailure,
    LocalFailure,
    NetworkFailure,
    failure_from_response,
)
from gemfiles.client.sources import UploadJob
from gemfiles.client.state import UploadStates, upload_key

_READ_BLOCK = 1024 * 1024


class ProgressSink(Protocol):
    def start(self, job: UploadJob, done: int) -> None: ...
    def advance(self, job: UploadJob, size: int) -> None: ...
    def rewind(self, job: UploadJob, done: int) -> None: ...
    def finish(self, job: UploadJob, result: UploadResult) -> None: ...


@dataclass
class UploadResult:
    job: UploadJob
    file: dict[str, Any] | None = None
    error: ClientFailure | None = None
    interrupted: bool = False
    resumed_from: int | None = None  # the offset a previous run had reached, when this run resumed
    sha256_verified: bool | None = None  # None: the server reported no sha256Hash

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return INTERRUPTED
        return self.error.exit_code if self.error else OK

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"path": str(self.job.path), "ok": self.file is not None and not self.error}
        if self.file is not None:
            result["file"] = self.file
        if self.resumed_from is not None:
            result["resumedFrom"] = self.resumed_from
        result["sha256Verified"] = self.sha256_verified
        if self.interrupted:
            result["interrupted"] = True
            result["error"] = {
                "message": "interrupted: run the same command again to resume",
                "exitCode": 130,
            }
        elif self.error is not None:
            result["error"] = self.error.as_json()
        return result


@dataclass
class _Session:
    key: str
    url: str
    offset: int
    granularity: int | None = None
    file: dict[str, Any] | None = None
    hashed: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


class Uploader:
    def __init__(
        self,
        api: FilesApi,
        states: UploadStates,
        progress: ProgressSink,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        fresh: bool = False,
    ) -> None:
        self.api = api
        self.states = states
        self.progress = progress
        self.chunk_size = chunk_size
        self.fresh = fresh

    def identity(self, job: UploadJob) -> dict[str, Any]:
        endpoint = self.api.endpoint
        return {
            "path": str(job.path),
            "size": job.size,
            "mtimeNs": job.mtime_ns,
            "baseUrl": endpoint.base_url,
            "apiVersion": endpoint.api_version,
            "key": endpoint.key_fingerprint,
            "mimeType": job.mime_type,
            "displayName": job.display_name,
            "name": job.name,
        }

    async def upload(self, job: UploadJob) -> UploadResult:
        result = UploadResult(job)
        try:
            await self._upload(job, result)
        except ClientFailure as failure:
            result.error = failure
        except OSError as exc:  # reading the file, or writing its state file
            result.error = LocalFailure(f"{job.label}: {exc.strerror or exc}")
        except asyncio.CancelledError:
            result.interrupted = True
            self.progress.finish(job, result)
            raise
        self.progress.finish(job, result)
        return result

    async def _upload(self, job: UploadJob, result: UploadResult) -> None:
        if job.mime_type is None:
            raise LocalFailure(
                f"cannot tell the MIME type of {job.path.name} from its name: pass --mime-type"
            )
        identity = self.identity(job)
        key = upload_key(identity)
        session = await self._resume(job, key, identity, result)
        if session is None:
            session = await self._start(job, key, identity)
        self.progress.start(job, session.offset)
        if session.file is None:
            await self._send(job, session)
        self.states.delete(key)
        result.file = session.file
        self._check_unchanged(job)
        result.sha256_verified = await self._verify(job, session)

    async def _resume(
        self, job: UploadJob, key: str, identity: dict[str, Any], result: UploadResult
    ) -> _Session | None:
        saved = self.states.load(key, identity)
        if saved is None:
            return None
        url = str(saved["uploadUrl"])
        if self.fresh:
            await self._cancel_quietly(url)
            self.states.delete(key)
            return None
        status, offset, file = await self._query(url)
        if status == "final" and file is not None:
            result.resumed_from = job.size
            return _Session(key, url, job.size, file=file)
        if status != "active" or offset is None or offset > job.size:
            # Expired, cancelled or failed: start over.
            self.states.delete(key)
            return None
        result.resumed_from = offset
        granularity = saved.get("granularity")
        return _Session(key, url, offset, granularity=granularity if isinstance(granularity, int) else None)

    async def _start(self, job: UploadJob, key: str, identity: dict[str, Any]) -> _Session:
        metadata: dict[str, Any] = {"mimeType": job.mime_type, "sizeBytes": str(job.size)}
        if job.display_name:
            metadata["displayName"] = job.display_name
        if job.name:
            metadata["name"] = job.name if job.name.startswith("files/") else f"files/{job.name}"
        assert job.mime_type is not None
        url, granularity = await self.api.start_upload(metadata, job.size, job.mime_type)
        self.states.save(key, identity, url, granularity=granularity)
        return _Session(key, url, 0, granularity=granularity)

    def _chunk_size(self, session: _Session) -> int:
        granularity = session.granularity
        if granularity and granularity > 0 and self.chunk_size % granularity:
            return (self.chunk_size // granularity + 1) * granularity
        return self.chunk_size

    async def _send(self, job: UploadJob, session: _Session) -> None:
        chunk_size = self._chunk_size(session)
        failures = 0
        offset_disputes = 0
        source = await asyncio.to_thread(open, job.path, "rb")
        with source:
            while True:
                offset = session.offset
                if offset > job.size:
                    raise ApiFailure(
                        f"the server reports {offset} bytes received of {job.size}", code=200, status=""
                    )
                length = min(chunk_size, job.size - offset)
                final = offset + length >= job.size
                data = await asyncio.to_thread(self._read, source, session, offset, length)
                if len(data) != length:
                    raise LocalFailure(f"{job.label} changed while it was uploaded (it is shorter now)")
                try:
                    response = await self.api.upload_command(
                        session.url,
                        "upload, finalize" if final else "upload",
                        offset=offset,
                        data=data,
                        progress=lambda n: self.progress.advance(job, n),
                    )
                except httpx.TransportError as exc:
                    failures += 1
                    await self._recover(job, session, failures, None, f"{type(exc).__name__}: {exc}")
                    if session.file is not None:
                        return
                    continue
                status = response.headers.get("x-goog-upload-status", "").strip().lower()
                code = response.status_code
                if code == 200 and status == "final":
                    session.file = _file_of(response)
                    return
                if code == 200 and status == "active":
                    received = response.headers.get("x-goog-upload-size-received", "")
                    session.offset = int(received) if received.isdigit() else offset + length
                    if final and session.offset >= job.size:
                        raise ApiFailure(
                            "all bytes were sent but the server did not finalize the upload",
                            code=code,
                            status="",
                        )
                    self.progress.rewind(job, session.offset)  # the server's count, not ours, is the truth
                    failures = failures + 1 if length and session.offset <= offset else 0
                    if failures > self.api.backoff.attempts:
                        raise ApiFailure("the server keeps none of the bytes sent", code=code, status="")
                    continue
                if transient(code, response.headers.get("retry-after")) and status in ("active", ""):
                    failures += 1
                    reason = str(failure_from_response(response))
                    await self._recover(job, session, failures, response.headers.get("retry-after"), reason)
                    if session.file is not None:
                        return
                    continue
                if 400 <= code < 500 and code != 404 and status == "active" and offset_disputes < 3:
                    # Google's rule: a 4xx while the session is still active means a bad offset. Ask.
                    offset_disputes += 1
                    now, received, file = await self._query(session.url)
                    if now == "final" and file is not None:
                        session.file = file
                        return
                    if now == "active" and received is not None and received != offset:
                        session.offset = received
                        self.progress.rewind(job, received)
                        continue
                if status in ("final", "cancelled") or code == 404:
                    self.states.delete(session.key)  # nothing left to resume
                raise failure_from_response(response)

    @staticmethod
    def _read(source: Any, session: _Session, offset: int, length: int) -> bytes:
        source.seek(offset)
        data = source.read(length)
        # Hash each byte once, in order, whatever offsets a resumed or rewound session sends.
        if offset <= session.hashed < offset + len(data):
            session.digest.update(memoryview(data)[session.hashed - offset :])
            session.hashed = offset + len(data)
        return bytes(data)

    async def _recover(
        self, job: UploadJob, session: _Session, failures: int, retry_after: str | None, reason: str
    ) -> None:
        """After a failed chunk: wait, ask the server where the session stands, and go on from there."""
        if failures > self.api.backoff.attempts:
            raise NetworkFailure(f"gave up after {failures} failed attempts ({reason}); run again to resume")
        await self.api.backoff.wait(failures, retry_after)
        status, offset, file = await self._query(session.url)
        if status == "final" and file is not None:
            session.file = file
            return
        if status != "active" or offset is None:
            raise ClientFailure(
                f"the upload session ended ({status or 'no status'}); run again to start over"
            )
        session.offset = offset
        self.progress.rewind(job, offset)

    async def _query(self, url: str) -> tuple[str, int | None, dict[str, Any] | None]:
        """``X-Goog-Upload-Command: query``, retried on transport errors and transient replies."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.api.upload_command(url, "query")
            except httpx.TransportError as exc:
                if attempt > self.api.backoff.attempts:
                    raise NetworkFailure(
                        f"the server cannot be reached ({type(exc).__name__}); run again to resume"
                    ) from None
                await self.api.backoff.wait(attempt)
                continue
            status = response.headers.get("x-goog-upload-status", "").strip().lower()
            retry_after = response.headers.get("retry-after")
            if transient(response.status_code, retry_after) and attempt <= self.api.backoff.attempts:
                await self.api.backoff.wait(attempt, retry_after)
                continue
            if response.status_code != 200:
                return status or "gone", None, None
            if status == "final":
                return status, None, _file_of(response)
            received = response.headers.get("x-goog-upload-size-received", "")
            return status, int(received) if received.isdigit() else None, None

    async def _cancel_quietly(self, url: str) -> None:
        try:
            await self.api.upload_command(url, "cancel")
        except httpx.HTTPError:
            pass

    def _check_unchanged(self, job: UploadJob) -> None:
        try:
            stat = job.path.stat()
        except OSError as exc:
            raise LocalFailure(f"{job.label}: {exc.strerror or exc}") from None
        if stat.st_size != job.size or stat.st_mtime_ns != job.mtime_ns:
            raise LocalFailure(f"{job.label} changed while it was uploaded; upload it again")

    async def _verify(self, job: UploadJob, session: _Session) -> bool | None:
        """Compares the server's ``sha256Hash`` (base64 of the hex digest) with the local file's."""
        assert session.file is not None
        reported = session.file.get("sha256Hash")
        if not reported:
            return None
        if session.hashed < job.size:
            await asyncio.to_thread(_hash_rest, job, session)
        local = session.digest.hexdigest()
        try:
            remote = base64.b64decode(str(reported), validate=True).decode("ascii").lower()
        except (binascii.Error, UnicodeDecodeError):
            remote = str(reported)
        if remote != local:
            raise LocalFailure(
                f"SHA-256 mismatch for {session.file.get('name')}: the server has {remote}, "
                f"{job.label} is {local}; the stored file is not this file"
            )
        return True


def _hash_rest(job: UploadJob, session: _Session) -> None:
    with open(job.path, "rb") as source:
        source.seek(session.hashed)
        while block := source.read(_READ_BLOCK):
            session.digest.update(block)
            session.hashed += len(block)


def _file_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    file = body.get("file") if isinstance(body, dict) else None
    if not isinstance(file, dict):
        raise ApiFailure(
            'the final reply carries no File ({"file": ...})', code=response.status_code, status=""
        )
    return file
