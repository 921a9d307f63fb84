"""The HTTP calls of the Files API wire protocol (WIRE.md sections 4, 5 and 8), with retries.

Requests to the API carry the key in ``x-goog-api-key``; requests to an upload URL carry none (the upload id
in the URL is the credential, as with the Python SDK), and the key never follows a redirect to another host.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from gemfiles.client.config import ConfigError, Endpoint
from gemfiles.client.failures import ApiFailure, ClientFailure, NetworkFailure, failure_from_response

# Google's chunk granularity and both SDKs' chunk size.
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
PIECE = 256 * 1024  # a chunk body is sent in pieces: progress moves and a rate limit paces within a chunk
_SERVER_CODES = frozenset({500, 502, 503, 504})
_MAX_REDIRECTS = 5
_FILE_ID = re.compile(r"^[A-Za-z0-9_.~-]{1,128}$")

Progress = Callable[[int], None]


def _user_agent() -> str:
    try:
        return f"gemfiles-cli/{version('gemfiles')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "gemfiles-cli"


def transient(code: int, retry_after: str | None, *, idempotent: bool = True) -> bool:
    """Worth another try: a 429 that says when (a 429 without Retry-After is a quota, not a pause), a 503,
    and, when repeating the request is harmless, any 500, 502 or 504."""
    if code == 429:
        return bool(retry_after)
    return code == 503 or (idempotent and code in _SERVER_CODES)


def file_id(name: str) -> str:
    """``files/abc``, ``abc`` or a File ``uri`` (``https://.../v1beta/files/abc``) -> ``abc``."""
    text = name.strip()
    if text.startswith(("https://", "http://")) and "/files/" in text:
        text = text.split("/files/", 1)[1]
    elif text.startswith("files/"):
        text = text[len("files/") :]
    text = text.split(":", 1)[0].split("?", 1)[0]
    if not _FILE_ID.match(text):
        raise ConfigError(f"not a file name: {name!r} (expected files/<id>, <id> or a file's uri)")
    return text


@dataclass
class Backoff:
    """Exponential backoff with jitter; ``Retry-After`` (seconds or an HTTP date) wins when sent."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return min(max(seconds, 0.0), 120.0)
        return min(self.cap, self.base * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)

    async def wait(self, attempt: int, retry_after: str | None = None) -> None:
        await self.sleep(self.delay(attempt, retry_after))


def _retry_after_seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


class RateLimit:
    """One byte budget per second shared by every upload of the command (``--limit-rate``)."""

    def __init__(self, bytes_per_second: int) -> None:
        self.rate = float(bytes_per_second)
        self._free_at = 0.0

    async def take(self, size: int) -> None:
        now = time.monotonic()
        start = max(now, self._free_at)
        self._free_at = start + size / self.rate
        if start > now:
            await asyncio.sleep(start - now)


class FilesApi:
    """One HTTP connection pool for a command; every method raises a ``ClientFailure`` when it fails."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        backoff: Backoff | None = None,
        connections: int = 8,
        rate_limit: RateLimit | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.backoff = backoff or Backoff()
        self.rate_limit = rate_limit
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(120.0, connect=15.0),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"user-agent": _user_agent()},
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> FilesApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the API ----------------------------------------------------------------------------------------

    async def list_page(self, page_size: int, page_token: str | None) -> tuple[list[dict[str, Any]], str]:
        params: dict[str, Any] = {"pageSize": page_size}
        if page_token:
            params["pageToken"] = page_token
        body = (await self._call("GET", self.endpoint.url("files"), params=params)).json()
        if not isinstance(
            body, dict
        ):  # an empty list may be sent as {} (WIRE.md 8.2), never as anything else
            raise ApiFailure("files.list answered something other than a JSON object", code=200, status="")
        return list(body.get("files") or []), str(body.get("nextPageToken") or "")

    async def iter_files(self, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            files, token = await self.list_page(page_size, token)
            for item in files:
                yield item
            # Pagers stop at a missing or empty token, as both SDKs do.
            if not token:
                return

    async def get_file(self, name: str) -> dict[str, Any]:
        return dict((await self._call("GET", self.endpoint.url(f"files/{file_id(name)}"))).json())

    async def delete_file(self, name: str) -> None:
        # A DELETE whose reply was lost may have happened: it is retried only when it surely was not sent.
        await self._call("DELETE", self.endpoint.url(f"files/{file_id(name)}"), idempotent=False)

    async def usage(self, admin_token: str | None = None) -> dict[str, Any]:
        """The key's project usage: from the admin API with an admin token, else /_internal/usage."""
        if admin_token:
            headers = {"x-goog-api-key": self.endpoint.api_key, "authorization": f"Bearer {admin_token}"}
            url = f"{self.endpoint.base_url}/_internal/admin/usage"
            return dict((await self._call("GET", url, headers=headers)).json())
        return dict((await self._call("GET", f"{self.endpoint.base_url}/_internal/usage")).json())

    async def download(self, name: str, target: Path, progress: Callable[[int | None, int], None]) -> int:
        """Streams ``files/{id}:download?alt=media`` into ``target`` (through a temporary file beside it);
        ``progress(total, done)`` as bytes arrive. Answers the number of bytes written."""
        url = self.endpoint.url(f"files/{file_id(name)}:download")
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._download_once(url, target, progress)
            except httpx.TransportError as exc:
                if attempt > self.backoff.attempts:
                    raise NetworkFailure(f"download failed: {_describe(exc)}") from None
                await self.backoff.wait(attempt)
            except ApiFailure as failure:
                if not transient(failure.code or 0, failure.retry_after) or attempt > self.backoff.attempts:
                    raise
                await self.backoff.wait(attempt, failure.retry_after)

    async def _download_once(
        self, url: str, target: Path, progress: Callable[[int | None, int], None]
    ) -> int:
        partial = target.with_name(f".{target.name}.part")
        headers = {"x-goog-api-key": self.endpoint.api_key}
        params: dict[str, str] | None = {"alt": "media"}
        for _ in range(_MAX_REDIRECTS + 1):
            request = self.http.build_request("GET", url, params=params, headers=headers)
            response = await self.http.send(request, stream=True)
            try:
                if response.is_redirect and "location" in response.headers:
                    url, params = str(response.url.join(response.headers["location"])), None
                    if _origin(url) != _origin(self.endpoint.base_url):
                        headers = {}  # storage on another host gets no key
                    continue
                if response.status_code != 200:
                    await response.aread()
                    raise failure_from_response(response)
                total = (
                    int(response.headers["content-length"]) if "content-length" in response.headers else None
                )
                written = 0
                progress(total, 0)
                out = await asyncio.to_thread(open, partial, "wb")
                with out:
                    async for block in response.aiter_bytes(1024 * 1024):
                        out.write(block)
                        written += len(block)
                        progress(total, written)
                    out.flush()
                    await asyncio.to_thread(os.fsync, out.fileno())
                if total is not None and written != total:
                    raise httpx.ReadError(f"the download ended after {written} of {total} bytes")
                os.replace(partial, target)
                return written
            finally:
                await response.aclose()
                partial.unlink(missing_ok=True)
        raise ApiFailure("too many redirects", code=310, status="TOO_MANY_REDIRECTS")

    # -- the resumable upload protocol (WIRE.md section 5) ----------------------------------------------

    async def start_upload(
        self, metadata: dict[str, Any], size: int, mime_type: str
    ) -> tuple[str, int | None]:
        """The ``start`` request: answers the upload URL and the chunk granularity the server announced."""
        headers = {
            "x-goog-api-key": self.endpoint.api_key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": mime_type,
        }
        # Not idempotent: a start whose reply was lost leaves a session the server will expire; retrying it
        # after such a loss would hold a second reservation of the project's quota.
        response = await self._call(
            "POST", self.endpoint.upload_url(), json={"file": metadata}, headers=headers, idempotent=False
        )
        url = response.headers.get("x-goog-upload-url")
        if not url:
            raise ApiFailure(
                "the server did not answer an upload URL (X-Goog-Upload-URL)",
                code=response.status_code,
                status="",
            )
        granularity = response.headers.get("x-goog-upload-chunk-granularity")
        return self._upload_origin(url), int(granularity) if granularity and granularity.isdigit() else None

    def _upload_origin(self, url: str) -> str:
        """Scheme, host and port of the base URL, path and query of the server's upload URL (as the JS SDK
        does): a server that does not know its public origin still works."""
        base, given = urlsplit(self.endpoint.base_url), urlsplit(url)
        if not given.scheme or not given.netloc:
            return f"{self.endpoint.base_url}/{url.lstrip('/')}"
        return urlunsplit((base.scheme, base.netloc, given.path, given.query, ""))

    async def upload_command(
        self,
        upload_url: str,
        command: str,
        *,
        offset: int | None = None,
        data: bytes = b"",
        progress: Progress | None = None,
    ) -> httpx.Response:
        """One request on the upload URL; the reply is returned whatever its status (the caller reads
        ``X-Goog-Upload-Status``). Transport errors propagate as ``httpx.TransportError``."""
        headers = {"X-Goog-Upload-Command": command, "Content-Length": str(len(data))}
        if offset is not None:
            headers["X-Goog-Upload-Offset"] = str(offset)
        content: Any = self._paced(data, progress) if data else b""
        response = await self.http.post(upload_url, content=content, headers=headers)
        await response.aread()
        return response

    async def _paced(self, data: bytes, progress: Progress | None) -> AsyncIterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(view), PIECE):
            piece = view[start : start + PIECE]
            if self.rate_limit is not None:
                await self.rate_limit.take(len(piece))
            yield bytes(piece)
            if progress is not None:
                progress(len(piece))

    # -- plumbing ---------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        headers = headers or {"x-goog-api-key": self.endpoint.api_key}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.http.request(method, url, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                # Only a request that never reached the server is safe to repeat when it is not idempotent.
                retry = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if not retry or attempt > self.backoff.attempts:
                    raise NetworkFailure(f"{method} {url}: {_describe(exc)}") from None
                await self.backoff.wait(attempt)
                continue
            if response.status_code == 200:
                return response
            retry_after = response.headers.get("retry-after")
            if (
                transient(response.status_code, retry_after, idempotent=idempotent)
                and attempt <= self.backoff.attempts
            ):
                await self.backoff.wait(attempt, retry_after)
                continue
            raise failure_from_response(response)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["DEFAULT_CHUNK_SIZE", "Backoff", "ClientFailure", "FilesApi", "RateLimit", "file_id"]
