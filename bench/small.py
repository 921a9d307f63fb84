"""``python -m bench --only small``: the rows of issue 10, each beside its anchor from the same run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.bigupload import big_rows
from bench.listing import list_rows, project_of, seed_files
from bench.probes import probe_rows
from bench.smallfiles import KEY, AnchorServer, Row, get_rows, small_upload_rows
from gemfiles.testing import LiveServer


def small_rows(
    work: Path,
    *,
    rounds: int,
    seconds: float,
    list_files: int,
    probes: int,
    postgres_url: str | None = None,
    upload_mib: int = 0,
    rss_mib: int = 0,
    uploads: bool = True,
) -> list[Row]:
    rows: list[Row] = []
    data = work / "small-data"
    env = {"GEMFILES_DATABASE_URL": postgres_url} if postgres_url else {}
    label = "PostgreSQL" if postgres_url else "SQLite"
    env["GEMFILES_MAX_FILE_BYTES"] = str(4 * 1024**3)
    # The write path alone: the anchor has no background work, so the probe worker is off here (what
    # probing the uploaded files costs is the probe rows' figure).
    quiet = {**env, "GEMFILES_RUN_WORKERS": "false"}
    if uploads:  # (--only reads: the files.get and files.list rows alone)
        with AnchorServer(work / "anchor") as anchor, LiveServer(data, quiet) as server:
            rows += [
                (f"{name} ({label})", value, note)
                for name, value, note in small_upload_rows(server, anchor, rounds, seconds)
            ]
            if upload_mib:
                rows += big_rows(server, anchor, upload_mib, rss_mib, rounds)
    data.mkdir(parents=True, exist_ok=True)
    # files.get as served (one access-log line per request), then with the access log off, as the anchor
    # runs (uvicorn at --log-level warning writes none): the second row is the same work on both sides.
    for suffix, extra in (("", {}), (", access log off", {"GEMFILES_ACCESS_LOG": "false"})):
        with (
            AnchorServer(work / f"anchor-get{len(suffix)}") as anchor,
            LiveServer(work / f"get-data{len(suffix)}", {**env, **extra}) as server,
        ):
            rows += [
                (f"{name}{suffix} ({label})", value, note)
                for name, value, note in get_rows(server, anchor, rounds, seconds)
            ]
    if list_files:
        # The listing's rows go in before the server starts: its database is then quiet.
        database = postgres_url or f"sqlite:///{data}/gemfiles.db"
        asyncio.run(seed_files(database, project_of(KEY), list_files))
        with AnchorServer(work / "anchor-list") as anchor, LiveServer(data, env) as server:
            rows += list_rows(server.port, anchor, list_files, rounds, label)
    if probes:
        rows += probe_rows(work, probes, rounds)
    return rows
