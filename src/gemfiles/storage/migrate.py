"""Alembic, driven in-process: `gemfiles migrate` and start-up both call ``upgrade`` on one connection.

Migrations are written to run on SQLite and PostgreSQL alike and to be additive, so old replicas keep
serving while new ones migrate. On PostgreSQL a transaction-scoped advisory lock makes concurrent
start-ups take turns.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

_LOCK_ID = 0x67656D66  # "gemf"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
    command.upgrade(alembic_config(connection), revision)


def current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
