"""MetadataStore on SQL: SQLite (``sqlite:///path``, the embedded default) and PostgreSQL (``postgresql://``).

One implementation for both, in SQLAlchemy Core over the async drivers (aiosqlite, asyncpg):

* quotas change only inside write transactions with a conditional ``UPDATE ... WHERE used + reserved + n
  <= quota``, so concurrent reservations can never overshoot;
* background work is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease column on PostgreSQL,
  so each item is taken by one replica and a replica that dies mid-job leaves it to another; SQLite gets
  the same guarantee from ``BEGIN IMMEDIATE`` (one writer at a time).

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is on disk when it returns. Writes go through
a single connection (SQLite has one writer anyway), reads through a small pool that never waits for it.
"""

from __future__ import annotations

from gemfiles.domain.ports import SessionGone
from gemfiles.storage.sql_engine import async_url
from gemfiles.storage.sql_keys import SqlKeys
from gemfiles.storage.sql_projects import SqlProjects
from gemfiles.storage.sql_work import SqlWork


class SqlMetadataStore(SqlWork, SqlProjects, SqlKeys):
    """The MetadataStore port on SQL: files and quotas (sql_files), upload sessions (sql_sessions),
    background work (sql_work), projects (sql_projects) and API keys (sql_keys), over the connections of sql_engine."""

    @classmethod
    def from_url(cls, url: str) -> SqlMetadataStore:
        return cls(url)


__all__ = ["SessionGone", "SqlMetadataStore", "async_url"]
