"""Many uploads from one command: bounded parallelism, one result per file in the order given."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import httpx

from gemfiles.client.api import Backoff, FilesApi
from gemfiles.client.config import Endpoint
from gemfiles.client.resumable import Uploader
from gemfiles.client.sources import collect
from gemfiles.client.state import UploadStates
from gemfiles.client.upload import upload_all
from tests.unit.client.peer import NoBars


class CountingPeer:
    """Finalizes every upload in one chunk, after a pause, counting the sessions open at once."""

    def __init__(self) -> None:
        self.sessions = 0
        self.open = 0
        self.most_open = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-goog-upload-command") == "start":
            self.sessions += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
            url = f"http://peer.test/upload/v1/files?upload_id=s{self.sessions}&upload_protocol=resumable"
            return httpx.Response(200, headers={"X-Goog-Upload-Status": "active", "X-Goog-Upload-URL": url})
        body = await request.aread()
        await asyncio.sleep(0.02)
        self.open -= 1
        digest = base64.b64encode(hashlib.sha256(body).hexdigest().encode()).decode()
        file = {"name": f"files/{request.url.params['upload_id']}", "sha256Hash": digest}
        return httpx.Response(
            200, headers={"X-Goog-Upload-Status": "final"}, content=json.dumps({"file": file})
        )


async def test_upload_all_keeps_at_most_parallel_uploads_open(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for index in range(10):
        (root / f"f{index}.txt").write_text(f"file {index}")
    jobs, _ = collect([str(root)])
    peer = CountingPeer()
    api = FilesApi(
        Endpoint("http://peer.test", "k", "v1"),
        backoff=Backoff(attempts=0),
        transport=httpx.MockTransport(peer.handle),
    )
    uploader = Uploader(api, UploadStates(tmp_path / "states"), NoBars())
    results = await upload_all(api, uploader, jobs, parallel=3)
    assert peer.sessions == 10
    assert peer.most_open == 3
    assert [r.job.display_name for r in results] == [f"f{i}.txt" for i in range(10)]
    assert all(r.error is None and r.sha256_verified for r in results)
