"""The storage suite's backends: every test here runs on SQLite + local disk, on PostgreSQL + S3, and on the
in-memory twin of both (storage/memory.py) that the domain's unit tests use.

PostgreSQL and SeaweedFS are real processes started from their pip wheels (tests/e2e/services.py); each
test gets its own database (a copy of a migrated template) and its own key prefix in one bucket.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gemfiles.domain.ports import BlobStore, MetadataStore
from gemfiles.storage.memory import MemoryBlobStore, forget
from gemfiles.storage.registry import open_blob_store, open_metadata_store
from tests.e2e.services import Postgres, SeaweedS3, shared_postgres, shared_seaweedfs, stop_shared


@dataclass
class Backend:
    name: str
    database_url: str
    blob_url: str
    root: Path | None = None  # local disk
    seaweed: SeaweedS3 | None = None
    bucket: str = ""
    prefix: str = ""
    postgres: Postgres | None = None

    def empty_database(self) -> str:
        """The URL of a database with no tables yet (to watch migrations run)."""
        if self.database_url.startswith("memory:"):
            return f"memory://empty-{uuid.uuid4().hex[:8]}"
        if self.postgres is not None:
            name = f"e_{uuid.uuid4().hex[:16]}"
            self.postgres.admin(f'CREATE DATABASE "{name}"')
            return self.postgres.url(name)
        assert self.root is not None
        return f"sqlite:///{self.root.parent / f'empty-{uuid.uuid4().hex[:8]}.db'}"

    def leftovers(self) -> list[str]:
        """Every stored object (and unfinished S3 multipart upload): what a leak would leave behind."""
        if self.seaweed is not None:
            keys = self.seaweed.keys(self.bucket, self.prefix)
            return keys + [f"(multipart) {k}" for k in self.seaweed.pending_uploads(self.bucket, self.prefix)]
        if self.blob_url.startswith("memory:"):
            return MemoryBlobStore.from_url(self.blob_url).leftovers()
        assert self.root is not None
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    yield shared_postgres()


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedS3]:
    yield shared_seaweedfs()


@pytest.fixture(scope="session")
def contract_bucket(seaweedfs: SeaweedS3) -> str:
    return seaweedfs.bucket()


@pytest.fixture(scope="session", autouse=True)
def _stop_services() -> Iterator[None]:
    yield
    stop_shared()


@pytest.fixture(params=["sqlite+file", "postgresql+s3", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        name = f"contract-{uuid.uuid4().hex[:12]}"
        yield Backend(request.param, f"memory://{name}", f"memory://{name}")
        forget(name)
        return
    if request.param == "sqlite+file":
        yield Backend(
            request.param,
            f"sqlite:///{tmp_path / 'meta.db'}",
            f"file://{tmp_path / 'blobs'}",
            root=tmp_path / "blobs",
        )
        return
    postgres: Postgres = request.getfixturevalue("postgres")
    seaweed: SeaweedS3 = request.getfixturevalue("seaweedfs")
    bucket: str = request.getfixturevalue("contract_bucket")
    prefix = f"c-{uuid.uuid4().hex[:12]}"
    for name, value in seaweed.env.items():
        request.getfixturevalue("monkeypatch").setenv(name, value)
    yield Backend(
        request.param,
        postgres.database(),
        f"s3://{bucket}/{prefix}",
        seaweed=seaweed,
        bucket=bucket,
        prefix=prefix,
        postgres=postgres,
    )


@pytest.fixture
async def open_meta(backend: Backend) -> AsyncIterator[Callable[[], Any]]:
    """Opens (and migrates) another MetadataStore on the same database, as a second replica would."""
    opened: list[MetadataStore] = []

    async def make() -> MetadataStore:
        store = open_metadata_store(backend.database_url)
        await store.migrate()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def meta(open_meta: Callable[[], Any]) -> MetadataStore:
    store: MetadataStore = await open_meta()
    return store


@pytest.fixture
async def blobs(backend: Backend) -> AsyncIterator[BlobStore]:
    store = open_blob_store(backend.blob_url)
    yield store
    await store.close()
