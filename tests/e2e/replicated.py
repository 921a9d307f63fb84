"""Two `gemfiles serve` replicas on PostgreSQL + S3 behind the round-robin proxy, as one LiveServer.

A ReplicatedServer is what tests/e2e/replicas_plugin.py turns every LiveServer into. Its two replicas share
one database (a copy of the migrated template) and one key prefix in the session's SeaweedFS bucket; in front
of them runs the proxy of tests/e2e/roundrobin.py, which sends each request to the other replica. ``url`` is
the proxy's; the proxy forwards Host, so upload URLs and file URIs name the proxy too. ``kill()``, ``stop()``
and ``start()`` act on the replicas and the proxy together; the same ports come back after a restart.
"""

from __future__ import annotations

import concurrent.futures
import sys
import uuid
from pathlib import Path

from tests.e2e.services import shared_postgres, shared_seaweedfs
from tests.support import LiveServer

REPLICAS = 2

_bucket: list[str] = []


def pg_s3_env() -> dict[str, str]:
    """A fresh database and a fresh key prefix in the session's bucket, with the S3 credentials."""
    postgres, seaweed = shared_postgres(), shared_seaweedfs()
    if not _bucket:
        _bucket.append(seaweed.bucket())
    return {
        "GEMFILES_DATABASE_URL": postgres.database(),
        "GEMFILES_BLOB_URL": f"s3://{_bucket[0]}/{uuid.uuid4().hex[:12]}",
        **seaweed.env,
    }


class ReplicatedServer(LiveServer):
    """Two replicas on one database and bucket prefix, behind the round-robin proxy listening on ``port``."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        super().__init__(data_dir, env, port)
        self.env = {**pg_s3_env(), **self.env}
        self.replicas = [
            LiveServer(data_dir.parent / f"{data_dir.name}-replica{i}", self.env) for i in range(REPLICAS)
        ]
        self.log_path = data_dir.parent / f"proxy-{self.port}.log"

    def start(self, timeout: float = 30.0) -> ReplicatedServer:
        with concurrent.futures.ThreadPoolExecutor(REPLICAS) as pool:
            futures = [pool.submit(replica.start, timeout) for replica in self.replicas]
            failures = [future.exception() for future in futures]
        if any(failures):
            self.stop()
            raise next(failure for failure in failures if failure)
        command = [sys.executable, "-m", "tests.e2e.roundrobin", "--port", str(self.port)]
        self._launch(
            [*command, *(replica.url for replica in self.replicas)],
            None,
            "/_internal/livez",
            "proxy",
            timeout,
            any_status=True,
        )
        return self

    def log(self) -> str:
        logs = [f"--- replica {i} ---\n{replica.log()}" for i, replica in enumerate(self.replicas)]
        return "\n".join([*logs, f"--- proxy ---\n{super().log()}"])

    def kill(self) -> None:
        for replica in self.replicas:
            replica.kill()
        super().kill()

    def stop(self) -> None:
        super().stop()
        for replica in self.replicas:
            replica.stop()
