"""A server on the embedded default loads only what it serves with: the libraries of other paths (the
client's httpx, the openai backend, PostgreSQL's async engine, S3, the media decoders, Alembic for a schema
already at its head) are imported by the first request or setting that needs them, not at start-up."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from alembic.script import ScriptDirectory

from gemfiles.storage.migrate import HEAD, alembic_config

_UNUSED_ON_SQLITE = (
    "httpx",
    "openai",
    "av",
    "pypdf",
    "PIL",
    "aiobotocore",
    "botocore",
    "boto3",
    "asyncpg",
    "alembic",
    "mako",
    "yaml",
    "jsonschema",
    "hypothesis",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql",
)


def _loaded_after(script: str) -> list[str]:
    probe = script + textwrap.dedent(
        f"""
        import sys
        print(" ".join(m for m in {_UNUSED_ON_SQLITE!r} if m in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_serve_imports_no_library_of_another_path(tmp_path: Path) -> None:
    script = f"""
import gemfiles.cli
from gemfiles.app import create_app
from gemfiles.settings import Settings
create_app(Settings(data_dir={str(tmp_path / "data")!r}))
"""
    assert _loaded_after(script) == []


def test_start_up_on_a_schema_at_its_head_leaves_alembic_unloaded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gemfiles.db"
    migrate = f"""
import asyncio
from gemfiles.storage.registry import open_metadata_store

async def main():
    store = open_metadata_store({url!r})
    await store.migrate()
    await store.close()

asyncio.run(main())
"""
    assert "alembic" in _loaded_after(migrate)  # a new database: the scripts run
    assert _loaded_after(migrate) == []  # the second start finds it at HEAD


def test_head_names_the_newest_migration_script() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD
