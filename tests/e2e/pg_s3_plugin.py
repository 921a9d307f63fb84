"""Runs the live-server suites on PostgreSQL + S3 instead of SQLite + local disk.

    .venv/bin/python -m pytest -p tests.e2e.pg_s3_plugin tests/conformance tests/protocol

Every server a test starts gets its own database (a copy of the migrated template) and its own key prefix
in one SeaweedFS bucket; PostgreSQL and SeaweedFS are the real processes of tests/e2e/services.py. Tests
that look inside the data directory (the SQLite file, the blob folders) or run the CLI against it do not
apply to these backends and fail under this plugin.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import tests.support as support
from tests.e2e.services import shared_postgres, shared_seaweedfs

_plain_init = support.LiveServer.__init__
_bucket: list[str] = []


def _init_on_pg_s3(
    self: support.LiveServer, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> None:
    env = dict(env or {})
    postgres, seaweed = shared_postgres(), shared_seaweedfs()
    if not _bucket:
        _bucket.append(seaweed.bucket())
    env.setdefault("GEMFILES_DATABASE_URL", postgres.database())
    env.setdefault("GEMFILES_BLOB_URL", f"s3://{_bucket[0]}/{uuid.uuid4().hex[:12]}")
    env.update(seaweed.env)
    _plain_init(self, data_dir, env, port)


support.LiveServer.__init__ = _init_on_pg_s3  # type: ignore[method-assign]
