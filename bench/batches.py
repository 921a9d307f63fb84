"""The Batch API benchmark: a JSONL batch through the ``inspect`` model, 1,000 and 10,000 lines.

Reports lines answered per second (from create to SUCCEEDED, the results file written) and the server's
peak RSS during each batch: it must not grow with the number of lines (the input is read line by line,
answers go to the store as they come, the results file is written page by page).

    python -m bench.batches [--lines 1000 10000]     (also run by ``python -m bench``)
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.files_api import RssSampler, resumable_upload, rss_mib
from gemfiles.testing import LiveServer

MODEL = "gemini-2.5-flash"


@dataclass
class BatchResult:
    lines: int
    seconds: float
    peak_rss_mib: float

    @property
    def per_second(self) -> float:
        return self.lines / self.seconds


def batch_input(lines: int) -> bytes:
    return b"".join(
        json.dumps(
            {"key": f"request-{i}", "request": {"contents": [{"parts": [{"text": f"Question number {i}?"}]}]}}
        ).encode()
        + b"\n"
        for i in range(lines)
    )


def run_batch(base_url: str, pid: int, key: str, lines: int) -> BatchResult:
    data = batch_input(lines)
    name, _ = resumable_upload(
        base_url, key, len(data), "jsonl", lambda offset, length: data[offset : offset + length]
    )
    headers = {"x-goog-api-key": key}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client, RssSampler(pid) as sampler:
        started = time.perf_counter()
        reply = client.post(
            f"/v1beta/models/{MODEL}:batchGenerateContent",
            json={"batch": {"display_name": f"bench-{lines}", "input_config": {"file_name": name}}},
        )
        reply.raise_for_status()
        job_name = reply.json()["name"]
        while True:
            job = client.get(f"/v1beta/{job_name}").json()
            state = job["metadata"]["state"]
            if state == "BATCH_STATE_SUCCEEDED":
                break
            if state in ("BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED"):
                raise RuntimeError(f"{job_name}: {job}")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    output = job["response"]["responsesFile"]
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        downloaded = client.get(f"/v1beta/{output}:download", params={"alt": "media"})
    answered = downloaded.content.count(b"\n")
    if answered != lines:
        raise RuntimeError(f"{job_name}: {answered} answers for {lines} lines")
    return BatchResult(lines, seconds, sampler.peak)


def bench_batches(base_url: str, pid: int, key: str, sizes: list[int]) -> list[tuple[str, str, str]]:
    rows = []
    idle = rss_mib(pid)
    for lines in sizes:
        result = run_batch(base_url, pid, key, lines)
        rows.append(
            (
                f"batch of {lines:,} lines through inspect",
                f"{result.per_second:,.0f} lines/s",
                f"server peak RSS {result.peak_rss_mib:,.0f} MiB (idle {idle:,.0f} MiB); {result.seconds:.1f} s",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batches")
    parser.add_argument("--lines", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gemfiles-bench-batches-", dir=Path.cwd()))
    try:
        with LiveServer(work / "data") as server:
            assert server.proc is not None
            rows = bench_batches(server.url, server.proc.pid, "bench-batches", args.lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(row[0]) for row in rows)
    for label, figure, note in rows:
        print(f"{label:<{width}}  {figure:>14}  {note}")


if __name__ == "__main__":
    main()
