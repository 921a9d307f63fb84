"""Alembic, driven in-process: `gemfiles migrate` and start-up both call ``upgrade`` on one connection.

Migrations are written to run on SQLite and PostgreSQL alike and to be additive, so old replicas keep
serving while new ones migrate. On PostgreSQL a transaction-scoped advisory lock makes concurrent
start-ups take turns. A database already at ``HEAD`` is left alone without loading Alembic (its import and
the scripts are ~12 MiB of a server's memory); ``HEAD`` is pinned to the scripts' head by a unit test.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from alembic.config import Config

_LOCK_ID = 0x67656D66  # "gemf"
HEAD = "0007"  # the newest script's revision


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
    if revision in ("head", HEAD) and _recorded(connection) == HEAD:
        return
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


def _recorded(connection: Connection) -> str | None:
    """The revision the database records (Alembic's own table), read without Alembic."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
