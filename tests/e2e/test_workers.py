"""Several server processes on one data directory: chunks land on whichever process accepts them."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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


def test_serve_hands_command_line_options_to_every_worker_process(tmp_path: Path) -> None:
    """Only the command line says where the data is: every worker process must use it, none the default."""
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir)
    command = [sys.executable, "-m", "gemfiles", "serve", "--workers", "2", "--port", str(server.port)]
    command += ["--data-dir", str(data_dir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMFILES_")}
    env["GEMFILES_LOG_LEVEL"] = "warning"
    data_dir.mkdir(parents=True)
    server._launch(command, env, "/_internal/healthz", "server", 60)
    try:
        uploaded = []
        for n in range(6):  # fresh connections: the kernel spreads them over both processes
            client = genai.Client(api_key="cli-workers", http_options={"base_url": server.url})
            uploaded.append(
                client.files.upload(file=io.BytesIO(b"x" * (n + 1)), config={"mime_type": "text/plain"})
            )
        for _ in range(6):  # a process on another store would list other files
            client = genai.Client(api_key="cli-workers", http_options={"base_url": server.url})
            assert {f.name for f in client.files.list()} == {f.name for f in uploaded}
        assert (data_dir / "gemfiles.db").exists()
    finally:
        server.stop()
