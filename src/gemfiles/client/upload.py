"""``gemfiles files upload``: many files and directories at once, resumable, with progress bars."""

from __future__ import annotations

import asyncio
import sys

import click
from rich.console import Console

from gemfiles.client.api import FilesApi, RateLimit, file_id
from gemfiles.client.config import ConfigError
from gemfiles.client.failures import OK, USAGE, ClientFailure, combined_exit_code
from gemfiles.client.options import MIB, connection_options, endpoint_or_exit, fail, make_api, parse_rate
from gemfiles.client.output import emit_json, error_console, human_size
from gemfiles.client.progress import UploadBars, make_progress
from gemfiles.client.resumable import Uploader, UploadResult
from gemfiles.client.sources import UploadJob, collect
from gemfiles.client.state import UploadStates


@click.command("upload")
@click.argument("paths", nargs=-1, required=True)
@click.option("--mime-type", metavar="TYPE", help="MIME type of every file (default: from each extension).")
@click.option("--display-name", metavar="TEXT", help="Display name (one file only; default: the file name).")
@click.option("--name", "file_name", metavar="ID", help="The file's id, files/ID (one file only).")
@click.option("--parallel", type=click.IntRange(1, 64), default=4, show_default=True, help="Uploads at once.")
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    metavar="MIB",
    help="Bytes per request, in MiB (rounded up to the server's granularity).",
)
@click.option("--limit-rate", metavar="RATE", callback=parse_rate, help="Total bandwidth cap, e.g. 10M.")
@click.option("--fresh", is_flag=True, help="Cancel a saved interrupted upload and start over.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@connection_options
def upload(
    paths: tuple[str, ...],
    mime_type: str | None,
    display_name: str | None,
    file_name: str | None,
    parallel: int,
    chunk_size: int,
    limit_rate: int | None,
    fresh: bool,
    quiet: bool,
    base_url: str | None,
    api_key: str | None,
    api_version: str | None,
    retries: int,
    as_json: bool,
) -> None:
    """Upload files and directories (recursively; hidden entries inside directories are skipped).

    An interrupted upload (Ctrl-C, a lost connection) resumes where the server says it stopped when the
    same command is run again; every upload ends with the server's SHA-256 checked against the file.
    """
    if file_name is not None:
        try:
            file_id(file_name)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--name") from None
    jobs, problems = collect(list(paths), mime_type=mime_type, display_name=display_name, name=file_name)
    if problems:
        for label, why in problems:
            error_console().print(f"[red]error:[/red] {label}: {why}")
        fail(ClientFailure("nothing was uploaded"), as_json, exit_code=USAGE)
    if len(jobs) > 1 and (display_name is not None or file_name is not None):
        raise click.UsageError(f"--display-name and --name name one file, and {len(jobs)} files were given")
    if not jobs:
        raise click.UsageError("no files to upload (directories given were empty)")
    endpoint = endpoint_or_exit(base_url, api_key, api_version, as_json)
    console = Console(stderr=as_json, soft_wrap=True)
    progress = make_progress(console, disable=quiet or not console.is_terminal)
    api = make_api(
        endpoint,
        retries,
        connections=parallel + 1,
        rate_limit=RateLimit(limit_rate) if limit_rate else None,
    )
    with progress:
        bars = UploadBars(progress, jobs, report_lines=not as_json)
        uploader = Uploader(api, UploadStates(), bars, chunk_size=chunk_size * MIB, fresh=fresh)
        try:
            results = asyncio.run(upload_all(api, uploader, jobs, parallel))
        except KeyboardInterrupt:  # a second Ctrl-C: the saved states still resume
            results = [UploadResult(job, interrupted=True) for job in jobs]
    code = combined_exit_code([result.exit_code for result in results])
    if as_json:
        emit_json([result.as_json() for result in results])
    else:
        _summarise(console, results)
    sys.exit(code)


async def upload_all(
    api: FilesApi, uploader: Uploader, jobs: list[UploadJob], parallel: int
) -> list[UploadResult]:
    uploader.states.prune()
    gate = asyncio.Semaphore(parallel)
    results: dict[int, UploadResult] = {}

    async def one(index: int, job: UploadJob) -> None:
        async with gate:
            try:
                results[index] = await uploader.upload(job)
            except (OSError, ValueError) as exc:  # the state directory, mostly: the upload itself is intact
                results[index] = UploadResult(job, error=ClientFailure(f"{type(exc).__name__}: {exc}"))

    tasks = [asyncio.create_task(one(index, job)) for index, job in enumerate(jobs)]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        # Ctrl-C: every upload stops where it is; its state file stays for the next run.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await api.aclose()
    return [results.get(index) or UploadResult(job, interrupted=True) for index, job in enumerate(jobs)]


def _summarise(console: Console, results: list[UploadResult]) -> None:
    uploaded = sum(1 for r in results if r.exit_code == OK)
    interrupted = sum(1 for r in results if r.interrupted)
    failed = len(results) - uploaded - interrupted
    if len(results) > 1:
        size = human_size(sum(r.job.size for r in results if r.exit_code == OK))
        console.print(
            f"{uploaded} uploaded ({size}), {failed} failed, {interrupted} interrupted", highlight=False
        )
    if interrupted:
        error_console().print("[yellow]interrupted:[/yellow] run the same command again to resume")
