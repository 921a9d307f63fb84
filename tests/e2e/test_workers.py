"""Several server processes on one data directory: chunks land on whichever process accepts them."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable

from google import genai

from tests.support import ROOT, LiveServer


def test_upload_across_worker_processes_keeps_the_digest(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_WORKERS="2")
    client = genai.Client(api_key="workers", http_options={"base_url": server.url})
    payload = os.urandom(40_000_000)  # five chunks; the connection pool spreads them over both processes
    uploaded = client.files.upload(file=io.BytesIO(payload), config={"mime_type": "application/pdf"})
    assert uploaded.size_bytes == len(payload)
    assert base64.b64decode(uploaded.sha256_hash or "").decode() == hashlib.sha256(payload).hexdigest()
    names = {f.name for f in client.files.list()}
    assert uploaded.name in names


def test_serve_refuses_emulator_controls_with_several_workers() -> None:
    env = {**os.environ, "GEMFILES_WORKERS": "2", "GEMFILES_EMULATOR_CONTROLS": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "gemfiles", "serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "emulator_controls needs workers=1" in result.stdout + result.stderr
