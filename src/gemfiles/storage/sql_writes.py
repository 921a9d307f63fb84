"""The write path's statements, built once per dialect with bind parameters.

A statement built per call (``insert(files).values(**row)``, ``update(...).values(x=col + 5)``) makes
SQLAlchemy build the expression, coerce every literal into a bind parameter and walk the tree for a cache
key each time: in the SQLite writer thread that was about a third of a small upload's transaction, time
the thread holds the GIL while the event loop waits for it. A statement built once and executed with a
dict of values is compiled once and found in the compiled cache by identity.

Parameter names carry a prefix (``u_``, ``s_``, ``f_``): a bind parameter may not take the name of a column
that an INSERT or UPDATE sets.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from gemfiles.storage.schema import files, inline_blobs, project_usage, upload_sessions

_usage = project_usage.c
_FITS = _usage.used_bytes + _usage.reserved_bytes + bindparam("u_amount") <= func.coalesce(
    _usage.quota_bytes, bindparam("u_quota")
)


class WriteStatements:
    """The statements of one dialect (its INSERT .. ON CONFLICT is the dialect's own ``insert``)."""

    def __init__(self, dialect_insert: Callable[[Any], Any]) -> None:
        self._dialect_insert = dialect_insert

    # Files -------------------------------------------------------------------------------------------
    @cached_property
    def insert_file_unless_held(self) -> Any:
        """Executed with ``file_values(record)``: no row inserted when the (project, id) is held."""
        return self._dialect_insert(files).on_conflict_do_nothing(index_elements=["project", "id"])

    insert_file = insert(files)
    lock_file = (
        select(files)
        .where(files.c.project == bindparam("f_project"), files.c.id == bindparam("f_id"))
        .with_for_update()
    )
    # Executed with {"key", "data", "create_us"}: a small file's bytes, kept with its row.
    insert_inline = insert(inline_blobs)
    delete_inline = delete(inline_blobs).where(inline_blobs.c.key == bindparam("i_key"))
    live_file_id = select(files.c.id).where(
        files.c.project == bindparam("f_project"),
        files.c.id == bindparam("f_id"),
        files.c.expire_us > bindparam("f_now"),
    )

    # Quota -------------------------------------------------------------------------------------------
    @cached_property
    def ensure_usage(self) -> Any:
        return (
            self._dialect_insert(project_usage)
            .values(project=bindparam("u_project"), used_bytes=0, reserved_bytes=0)
            .on_conflict_do_nothing(index_elements=["project"])
        )

    @cached_property
    def take_upsert(self) -> Any:
        """``u_amount`` added to the used bytes if it fits under the project's quota, else ``u_quota``."""
        return (
            self._dialect_insert(project_usage)
            .values(project=bindparam("u_project"), used_bytes=bindparam("u_amount"), reserved_bytes=0)
            .on_conflict_do_update(
                index_elements=["project"],
                set_={"used_bytes": _usage.used_bytes + bindparam("u_amount")},
                where=_FITS,
            )
        )

    take_update = (
        update(project_usage)
        .where(_usage.project == bindparam("u_project"), _FITS)
        .values(used_bytes=_usage.used_bytes + bindparam("u_amount"))
    )
    reserve = (
        update(project_usage)
        .where(_usage.project == bindparam("u_project"), _FITS)
        .values(reserved_bytes=_usage.reserved_bytes + bindparam("u_amount"))
    )
    add_usage = (
        update(project_usage)
        .where(_usage.project == bindparam("u_project"))
        .values(
            used_bytes=_usage.used_bytes + bindparam("u_used"),
            reserved_bytes=_usage.reserved_bytes + bindparam("u_reserved"),
        )
    )

    # Sessions ----------------------------------------------------------------------------------------
    insert_session = insert(upload_sessions)
    lock_session = (
        select(upload_sessions)
        .where(upload_sessions.c.token_digest == bindparam("s_token"))
        .with_for_update()
    )
    whole_received = (
        update(upload_sessions)
        .where(upload_sessions.c.token_digest == bindparam("s_token"))
        .values(received=bindparam("s_received"), reserved_bytes=bindparam("s_reserved"))
    )
    mark_final = (
        update(upload_sessions)
        .where(upload_sessions.c.token_digest == bindparam("s_token"))
        .values(status=bindparam("s_status"), reserved_bytes=0)
    )
    mark_final_received = (
        update(upload_sessions)
        .where(upload_sessions.c.token_digest == bindparam("s_token"))
        .values(status=bindparam("s_status"), reserved_bytes=0, received=bindparam("s_received"))
    )
