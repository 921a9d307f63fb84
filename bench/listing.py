"""files.list at 100,000 files in one project: the rows seeded straight into the metadata store (the
bench's own bulk path), then pages of 100 walked with their page tokens, beside the anchor's dict."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import insert

from bench.smallfiles import KEY, AnchorServer, Row
from bench.smallload import Conn
from gemfiles.domain.models import FileRecord, FileSource, FileState
from gemfiles.protocol.http import key_hash
from gemfiles.storage.schema import files
from gemfiles.storage.sql import SqlMetadataStore
from gemfiles.storage.sql_rows import file_values

PAGES = 200


def project_of(key: str) -> str:
    return "k" + key_hash(key)[:32]


async def seed_files(database_url: str, project: str, count: int) -> None:
    """``count`` small ACTIVE files in ``project`` (facts known: no probe is due), 5,000 rows a transaction."""
    store = SqlMetadataStore.from_url(database_url)
    await store.migrate()
    now = datetime.now(UTC)
    batch: list[dict[str, object]] = []
    try:
        for index in range(count):
            created = now - timedelta(microseconds=count - index)
            record = FileRecord(
                project=project,
                id=f"seed{index:08d}",
                display_name=None,
                mime_type="text/plain",
                size_bytes=5,
                sha256_hex="0" * 64,
                create_time=created,
                update_time=created,
                expire_time=now + timedelta(days=2),
                blob_key=f"se/seed{index:08d}",
                state=FileState.ACTIVE,
                source=FileSource.UPLOADED,
                facts={},
            )
            batch.append(file_values(record))
            if len(batch) == 5000 or index == count - 1:
                rows = batch
                await store._transact(lambda conn, rows=rows: conn.execute(insert(files), rows))
                batch = []
    finally:
        await store.close()


async def _walk(port: int, path: str, headers: dict[str, str], pages: int, token_key: str) -> list[float]:
    conn = Conn("127.0.0.1", port)
    times: list[float] = []
    token = ""
    try:
        for _ in range(pages):
            url = path + (f"&pageToken={quote(token)}" if token else "")
            started = time.perf_counter()
            status, _, body = await conn.request("GET", url, headers)
            times.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"files.list: {status} {body[:200]!r}")
            token = json.loads(body).get(token_key, "")
            if not token:
                break
    finally:
        conn.close()
    return times


def list_rows(port: int, anchor: AnchorServer, count: int, rounds: int, label: str) -> list[Row]:
    asyncio.run(_seed_anchor(anchor.port, count))
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        theirs += asyncio.run(_walk(anchor.port, "/files?pageSize=100", {}, PAGES, "nextPageToken"))
        ours += asyncio.run(
            _walk(port, "/v1beta/files?pageSize=100", {"x-goog-api-key": KEY}, PAGES, "nextPageToken")
        )
    ours.sort()
    theirs.sort()
    median, anchor_median = statistics.median(ours), statistics.median(theirs)
    return [
        (
            f"files.list, pages of 100 at {count:,} files in one project ({label})",
            f"{median:.2f} ms median",
            f"p99 {_p99(ours):.2f} ms, slowest {ours[-1]:.2f} ms over {len(ours)} pages; anchor median "
            f"{anchor_median:.2f} ms ({median / anchor_median:.1f}x its time), p99 {_p99(theirs):.2f} ms, "
            f"slowest {theirs[-1]:.2f} ms",
        )
    ]


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, round(len(ordered) * 0.99))]


async def _seed_anchor(port: int, count: int) -> None:
    conn = Conn("127.0.0.1", port)
    try:
        await conn.request("POST", f"/seed?count={count}", {}, b"")
    finally:
        conn.close()
