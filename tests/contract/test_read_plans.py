"""PostgreSQL's plans for the hot reads: a listing page walks the index in order even when the planner has no
statistics yet (a table just bulk-loaded, a project that grew fast since the last autoanalyze), instead of a
bitmap scan that reads and sorts every file of the project for each page (40 ms a page at 100,000 files)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql

from gemfiles.domain.clock import to_micros
from gemfiles.storage.sql import SqlMetadataStore
from gemfiles.storage.sql_files import _PAGE_AFTER
from tests.e2e.services import Postgres

FILES = 20_000


async def test_listing_page_reads_the_index_in_order_on_a_table_never_analyzed(postgres: Postgres) -> None:
    store = SqlMetadataStore.from_url(postgres.database())
    try:
        first = await store.list_files("p", datetime.now(UTC), 101, None)  # opens the read pool
        assert first == []
        async with store._pg_pool.acquire() as conn:
            await conn.execute("ALTER TABLE files SET (autovacuum_enabled = false)")
            await conn.execute(
                "INSERT INTO files (project, id, mime_type, size_bytes, sha256_hex, create_us, update_us, "
                "expire_us, state, source, blob_key, probe_due) SELECT 'p', 'f' || g, 'text/plain', 5, "
                "repeat('0', 64), g, g, 9000000000000000, 'ACTIVE', 'UPLOADED', 'b' || g, false "
                f"FROM generate_series(1, {FILES}) g"
            )
            never = await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'files'")
            assert never == -1  # no statistics: the planner guesses a handful of rows
            sql = str(_PAGE_AFTER.compile(dialect=postgresql.asyncpg.dialect()))
            now = to_micros(datetime.now(UTC))
            plan = "\n".join(
                row[0] for row in await conn.fetch("EXPLAIN " + sql, "p", now, FILES + 1, "z", 101)
            )
        assert "Index Scan Backward using ix_files_project_created" in plan, plan
        assert "Bitmap" not in plan and "Sort" not in plan, plan
        page = await store.list_files("p", datetime.now(UTC), 101, (FILES - 500, "f"))
        assert [r.id for r in page[:2]] == [f"f{FILES - 501}", f"f{FILES - 502}"]
    finally:
        await store.close()
