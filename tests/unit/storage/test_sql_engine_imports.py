"""A server on SQLite never loads the PostgreSQL driver (its memory counts in the upload RSS budget)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_sqlite_store_and_the_app_load_no_asyncpg(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        import gemfiles.app, gemfiles.cli
        from gemfiles.storage.sql import SqlMetadataStore

        async def main():
            store = SqlMetadataStore.from_url("sqlite:///{tmp_path}/g.db")
            await store.migrate()
            await store.ping()
            await store.close()

        asyncio.run(main())
        print("asyncpg" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
