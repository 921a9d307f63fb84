"""`make bench`: starts gemfiles on its embedded default and prints the figures the README quotes.

    python -m bench [--upload-mib 1024] [--rss-mib 2048] [--gets 1000] [--batch-lines 1000 10000]
                    [--no-scale-out]
    python -m bench --only small [--rounds 5] [--seconds 3] [--list-files 100000] [--probes 20]
    python -m bench --only reads [...]     (issue 10's files.get and files.list rows alone)
    python -m bench.listing_trace [--postgres]   (where the slow listing pages go, per page)

The scale-out rows (bench/scaleout.py) start their own PostgreSQL, SeaweedFS and two replicas.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from bench.batches import bench_batches
from bench.files_api import MIB, bench_gets, bench_upload, rss_mib
from bench.models import bench_model_ttfb
from bench.scaleout import bench_scale_out
from bench.services import ServiceError
from gemfiles.testing import LiveServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--upload-mib", type=int, default=1024, help="size of the timed resumable upload")
    parser.add_argument(
        "--rss-mib", type=int, default=2048, help="size of the upload during which RSS is watched"
    )
    parser.add_argument("--gets", type=int, default=1000, help="files.get calls per concurrency level")
    parser.add_argument(
        "--video-mib", type=int, default=1024, help="size of the video for the model TTFB (0: skip)"
    )
    parser.add_argument(
        "--batch-lines",
        type=int,
        nargs="*",
        default=[1000, 10000],
        help="JSONL batches through inspect: lines/s and server peak RSS per size (none: skip)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--scale-out",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure PostgreSQL + SeaweedFS S3: upload vs boto3, files.get on 2 replicas vs 1",
    )
    parser.add_argument(
        "--only",
        choices=["all", "small", "reads"],
        default="all",
        help="small: issue 10's rows only; reads: its files.get and files.list rows",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per small-file case")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one small-file round")
    parser.add_argument("--list-files", type=int, default=100_000, help="files seeded for files.list")
    parser.add_argument("--probes", type=int, default=20, help="files per kind in the probe rounds")
    parser.add_argument(
        "--postgres", action="store_true", help="--only small on PostgreSQL (started by the bench)"
    )
    args = parser.parse_args()
    if args.only in ("small", "reads"):
        return _small(args)

    work = Path(tempfile.mkdtemp(prefix="gemfiles-bench-", dir=Path.cwd()))
    rows: list[tuple[str, str, str]] = []
    failed = ""
    try:
        server = LiveServer(work / "data", {"GEMFILES_MAX_FILE_BYTES": str(4 * 1024**3)})
        with server:
            assert server.proc is not None
            pid = server.proc.pid
            idle = rss_mib(pid)
            upload = bench_upload(server.url, pid, "bench", args.upload_mib * MIB)
            rows.append(
                (
                    f"resumable upload, {args.upload_mib} MiB in 8 MiB chunks",
                    f"{upload.mb_per_s:,.0f} MB/s",
                    "SHA-256 + fsync included; target >= 600",
                )
            )
            if args.rss_mib:
                big = bench_upload(server.url, pid, "bench-rss", args.rss_mib * MIB)
                rows.append(
                    (
                        f"server peak RSS during a {args.rss_mib} MiB upload",
                        f"{big.peak_rss_mib:,.0f} MiB",
                        f"idle {idle:,.0f} MiB; {big.mb_per_s:,.0f} MB/s; target < 100",
                    )
                )
            for clients in (1, 16):
                result = bench_gets(server.url, "bench", upload.file_name, args.gets, clients)
                if result.errors:
                    raise SystemExit(f"files.get: {result.errors} errors")
                rows.append(
                    (
                        f"files.get x{args.gets}, {clients} client(s)",
                        f"{result.per_second:,.0f} req/s",
                        f"p50 {result.p50:.2f} ms, p99 {result.percentile(99):.2f} ms; "
                        f"{result.seconds * 1000:,.0f} ms total",
                    )
                )
            if args.video_mib:
                rows.extend(bench_model_ttfb(server.url, "bench-models", work, args.video_mib * MIB))
            if args.batch_lines:
                rows.extend(bench_batches(server.url, pid, "bench-batches", args.batch_lines))
        if args.scale_out:
            try:
                rows.extend(bench_scale_out(work / "scale-out", args.upload_mib))
            except ServiceError as exc:
                failed = f"scale-out benchmark not run: {exc}"
                rows.append(("scale-out", "not run", str(exc).splitlines()[0][:100]))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark'.ljust(width)} | {'result':>14} | notes")
    print(f"{'-' * width}-|-{'-' * 14}-|------")
    for name, value, note in rows:
        print(f"{name.ljust(width)} | {value:>14} | {note}")
    if failed:
        raise SystemExit(failed)


def _small(args: argparse.Namespace) -> None:
    from bench.small import small_rows

    work = Path(tempfile.mkdtemp(prefix="gemfiles-bench-", dir=Path.cwd()))
    postgres = None
    if args.postgres:
        from bench.services import start_postgres

        postgres = start_postgres()
    try:
        rows = small_rows(
            work,
            rounds=args.rounds,
            seconds=args.seconds,
            list_files=args.list_files,
            probes=args.probes,
            upload_mib=args.upload_mib,
            rss_mib=args.rss_mib,
            postgres_url=postgres.database() if postgres else None,
            uploads=args.only == "small",
        )
    finally:
        if postgres is not None:
            postgres.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    _print(rows)


def _print(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark'.ljust(width)} | {'result':>14} | notes")
    print(f"{'-' * width}-|-{'-' * 14}-|------")
    for name, value, note in rows:
        print(f"{name.ljust(width)} | {value:>14} | {note}")


if __name__ == "__main__":
    main()
