"""The large-upload guard of issue 10: 1 GiB in 8 MiB chunks beside a plain streaming handler (alternating
rounds), and the server's peak RSS during a 2 GiB upload."""

from __future__ import annotations

import http.client
import os
import statistics
import time

from bench.files_api import CHUNK, MIB, RssSampler, resumable_upload
from bench.smallfiles import AnchorServer, Row
from gemfiles.testing import LiveServer


def anchor_upload(port: int, size: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    block = os.urandom(CHUNK)
    name = os.urandom(6).hex()
    started = time.perf_counter()
    offset = 0
    while offset < size:
        length = min(CHUNK, size - offset)
        conn.request("POST", f"/chunks/{name}", body=block[:length])
        reply = conn.getresponse()
        reply.read()
        if reply.status != 200:
            raise RuntimeError(f"anchor chunk: {reply.status}")
        offset += length
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def big_rows(
    server: LiveServer, anchor: AnchorServer, upload_mib: int, rss_mib: int, rounds: int
) -> list[Row]:
    size = upload_mib * MIB
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(rounds):
        sides = [("anchor", lambda: anchor_upload(anchor.port, size)), ("ours", lambda: _ours(server, size))]
        if index % 2:
            sides.reverse()
        for side, run in sides:
            (theirs if side == "anchor" else ours).append(size / run() / 1e6)
    ratios = [o / t for o, t in zip(ours, theirs, strict=True)]
    rows: list[Row] = [
        (
            f"resumable upload, {upload_mib} MiB in 8 MiB chunks",
            f"{statistics.median(ours):,.0f} MB/s = {statistics.median(ratios):.2f}x",
            f"plain streaming handler {statistics.median(theirs):,.0f} MB/s; ratio range "
            f"{min(ratios):.2f}-{max(ratios):.2f} over {rounds} alternating rounds",
        )
    ]
    if rss_mib:
        assert server.proc is not None
        with RssSampler(server.proc.pid) as sampler:
            resumable_upload(server.url, "bench-rss", rss_mib * MIB)
        rows.append(
            (f"server peak RSS during a {rss_mib} MiB upload", f"{sampler.peak:,.0f} MiB", "target < 100")
        )
    return rows


def _ours(server: LiveServer, size: int) -> float:
    return resumable_upload(server.url, "bench-big", size)[1]
