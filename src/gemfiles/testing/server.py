"""A real `gemfiles serve` process on loopback, for tests and benchmarks (only stdlib and httpx)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """One `gemfiles serve` process. ``env`` adds GEMFILES_* settings; the data dir is the test's own.

    The process runs in ``cwd`` (the caller's working directory when not given), with the caller's
    environment minus any GEMFILES_* variable, so only ``env`` configures it.
    """

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = dict(env or {})
        self.port = port or free_port()
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LiveServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEMFILES_")}
        env.update(
            {
                "GEMFILES_PORT": str(self.port),
                "GEMFILES_HOST": "127.0.0.1",
                "GEMFILES_DATA_DIR": str(self.data_dir),
                "GEMFILES_LOG_LEVEL": "warning",
            }
        )
        env.update(self.env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self._launch(
            [sys.executable, "-m", "gemfiles", "serve"], env, "/_internal/healthz", "server", timeout
        )

    def _launch(
        self,
        command: list[str],
        env: dict[str, str] | None,
        ready_path: str,
        what: str,
        timeout: float,
        *,
        any_status: bool = False,
    ) -> LiveServer:
        """Starts ``command`` logging to ``log_path`` and waits until ``ready_path`` answers (200, or anything)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                reply = httpx.get(f"{self.url}{ready_path}", timeout=1)
                if any_status or reply.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{what} did not become ready:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no flushing."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
