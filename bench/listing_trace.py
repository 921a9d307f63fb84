"""``python -m bench.listing_trace [--files 100000] [--walks 3] [--postgres]``: where a slow listing page goes.

Seeds the files (bench/listing.py), starts the anchor and ``python -m bench.traced`` (gemfiles with a
per-request trace), then walks every page of 100, one gemfiles page then one anchor page, so both see the
machine at the same moments. Prints both latency distributions from the same client and, for each gemfiles
page over ``--slow`` ms, where its time went inside the server (bench/traced.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.listing import _seed_anchor, project_of, seed_files
from bench.smallfiles import KEY, AnchorServer
from bench.smallload import Conn
from gemfiles.testing import LiveServer


class TracedServer(LiveServer):
    def start(self, timeout: float = 30.0) -> LiveServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEMFILES_")}
        env.update(
            {
                "GEMFILES_PORT": str(self.port),
                "GEMFILES_HOST": "127.0.0.1",
                "GEMFILES_DATA_DIR": str(self.data_dir),
                "GEMFILES_LOG_LEVEL": "warning",
                **self.env,
            }
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self._launch(
            [sys.executable, "-m", "bench.traced"], env, "/_internal/healthz", "server", timeout
        )


async def _walks(port: int, anchor_port: int, walks: int) -> tuple[list[tuple[float, float]], list[float]]:
    ours, theirs = Conn("127.0.0.1", port), Conn("127.0.0.1", anchor_port)
    spans: list[tuple[float, float]] = []
    anchor_ms: list[float] = []
    headers = {"x-goog-api-key": KEY}
    try:
        for _ in range(walks):
            token, start = "", 0
            while True:
                url = "/v1beta/files?pageSize=100" + (f"&pageToken={quote(token)}" if token else "")
                began = time.monotonic()
                status, _, body = await ours.request("GET", url, headers)
                spans.append((began, time.monotonic()))
                if status != 200:
                    raise RuntimeError(f"files.list: {status} {body[:200]!r}")
                began = time.monotonic()
                await theirs.request("GET", f"/files?pageSize=100&pageToken={start}", {})
                anchor_ms.append((time.monotonic() - began) * 1000)
                start += 100
                token = json.loads(body).get("nextPageToken", "")
                if not token:
                    break
    finally:
        ours.close()
        theirs.close()
    return spans, anchor_ms


def _describe(times: list[float], slow: float) -> str:
    ordered = sorted(times)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, round(n * q))]

    over = sum(t > slow for t in ordered)
    return (
        f"median {at(0.5):.2f} ms, p90 {at(0.9):.2f}, p99 {at(0.99):.2f}, p99.9 {at(0.999):.2f}, "
        f"slowest {ordered[-1]:.2f}; {over} of {n} pages over {slow:g} ms"
    )


def report(
    spans: list[tuple[float, float]], anchor_ms: list[float], trace: dict[str, Any], slow: float
) -> None:
    requests = trace["requests"]
    if len(requests) != len(spans):
        raise RuntimeError(f"{len(requests)} traced requests for {len(spans)} pages")
    ours = [(end - began) * 1000 for began, end in spans]
    print(f"gemfiles: {_describe(ours, slow)}")
    print(f"anchor:   {_describe(anchor_ms, slow)}")
    columns = ("client", "in app", "cpu", "store", "st.cpu", "render", "miss", "send", "gc", "gen", "invol")
    print(" ".join(f"{c:>7}" for c in columns))

    def line(client: float, r: dict[str, Any]) -> str:
        values = (client, (r["end"] - r["start"]) * 1000, r["cpu_ms"], r["store_ms"], r["store_cpu_ms"])
        values += (
            r["render_ms"],
            r["render_misses"],
            r["send_ms"],
            r["gc_ms"],
            r["gc_gen"],
            r["involuntary"],
        )
        return " ".join(f"{v:7.2f}" if isinstance(v, float) else f"{v:7d}" for v in values)

    order = sorted(range(len(ours)), key=ours.__getitem__)
    print("median page:")
    print(line(ours[order[len(order) // 2]], requests[order[len(order) // 2]]))
    slow_pages = [i for i in order if ours[i] > slow]
    print(f"pages over {slow:g} ms ({len(slow_pages)}):")
    for i in slow_pages:
        print(line(ours[i], requests[i]) + f"   page {i}")
    _totals(ours, requests, slow_pages)
    pauses = [p for p in trace["gc"] if p[0] >= requests[0]["start"]]  # not start-up's
    gen2 = [p for p in pauses if p[1] == 2]
    print(
        f"GC: {len(pauses)} collections during the walks, {len(gen2)} of generation 2 "
        f"(longest {max((p[2] for p in gen2), default=0):.2f} ms); longest of any {max(p[2] for p in pauses):.2f} ms"
    )


def _totals(ours: list[float], requests: list[dict[str, Any]], slow_pages: list[int]) -> None:
    if not slow_pages:
        return
    client = sum(ours[i] for i in slow_pages)
    cpu = sum(requests[i]["cpu_ms"] for i in slow_pages)
    in_app = sum((requests[i]["end"] - requests[i]["start"]) * 1000 for i in slow_pages)
    gc_ms = sum(requests[i]["gc_ms"] for i in slow_pages)
    preempted = sum(requests[i]["involuntary"] > 0 for i in slow_pages)
    all_preempted = sum(r["involuntary"] > 0 for r in requests)
    print(
        f"slow pages: {client:.0f} ms at the client, {in_app:.0f} ms in the app, of which {cpu:.0f} ms on the "
        f"CPU ({gc_ms:.0f} ms GC); {preempted} of {len(slow_pages)} preempted at least once in the app "
        f"(all pages: {all_preempted} of {len(requests)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.listing_trace")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--walks", type=int, default=3)
    parser.add_argument("--slow", type=float, default=10.0, help="pages over this many ms are itemized")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--env", nargs="*", default=[], help="GEMFILES_X=value settings for the server")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gemfiles-trace-", dir=Path.cwd()))
    postgres = None
    try:
        if args.postgres:
            from bench.services import start_postgres

            postgres = start_postgres()
        database = postgres.database() if postgres else f"sqlite:///{work}/data/gemfiles.db"
        (work / "data").mkdir()
        asyncio.run(seed_files(database, project_of(KEY), args.files))
        env = dict(item.split("=", 1) for item in args.env)
        if postgres:
            env["GEMFILES_DATABASE_URL"] = database
        with AnchorServer(work / "anchor") as anchor, TracedServer(work / "data", env) as server:
            asyncio.run(_seed_anchor(anchor.port, args.files))
            spans, anchor_ms = asyncio.run(_walks(server.port, anchor.port, args.walks))
            trace = httpx.get(f"{server.url}/_trace", timeout=30).json()
        report(spans, anchor_ms, trace, args.slow)
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
