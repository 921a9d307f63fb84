"""``gemfiles files upload|list|get|delete|download`` and ``gemfiles usage``: thin over api.py and resumable.py."""

from __future__ import annotations

import asyncio
import mimetypes
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from gemfiles.client.api import Backoff, FilesApi, RateLimit, file_id
from gemfiles.client.config import ConfigError, Endpoint, resolve_endpoint
from gemfiles.client.failures import (
    FAILED,
    INTERRUPTED,
    NOT_FOUND,
    OK,
    USAGE,
    ClientFailure,
    combined_exit_code,
)
from gemfiles.client.output import (
    emit_json,
    error_console,
    file_details,
    files_table,
    human_size,
    print_failure,
)
from gemfiles.client.progress import UploadBars, make_progress
from gemfiles.client.resumable import Uploader, UploadResult
from gemfiles.client.sources import UploadJob, collect
from gemfiles.client.state import UploadStates

T = TypeVar("T")
MIB = 1024 * 1024


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command shares: where to connect, with which key, how to answer."""
    options = [
        click.option(
            "--base-url",
            metavar="URL",
            help="Files API origin (GOOGLE_GEMINI_BASE_URL; default https://generativelanguage.googleapis.com).",
        ),
        click.option(
            "--api-key",
            metavar="KEY",
            help="API key (GOOGLE_API_KEY, then GEMINI_API_KEY; prefer them: a flag shows in `ps`).",
        ),
        click.option(
            "--api-version",
            metavar="V",
            help="API version in the paths (GOOGLE_GENAI_API_VERSION; default v1, as google-genai).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 20),
            default=5,
            show_default=True,
            help="Retries of a transient failure (connection lost, 429, 5xx), with backoff.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON document for scripts."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _endpoint(base_url: str | None, api_key: str | None, api_version: str | None, as_json: bool) -> Endpoint:
    try:
        return resolve_endpoint(base_url, api_key, api_version)
    except ConfigError as exc:
        _fail(ClientFailure(str(exc)), as_json, exit_code=exc.exit_code)


def _fail(failure: ClientFailure, as_json: bool, *, exit_code: int | None = None, what: str = "") -> NoReturn:
    code = exit_code if exit_code is not None else failure.exit_code
    print_failure(failure, what=what)
    if as_json:
        emit_json({"error": {**failure.as_json(), "exitCode": code}})
    sys.exit(code)


def _run(coroutine: Coroutine[Any, Any, T], as_json: bool) -> T:
    """Runs one command's coroutine; a ClientFailure becomes its message and exit code."""
    try:
        return asyncio.run(coroutine)
    except ClientFailure as failure:
        _fail(failure, as_json)
    except ConfigError as exc:
        _fail(ClientFailure(str(exc)), as_json, exit_code=exc.exit_code)
    except KeyboardInterrupt:
        error_console().print("[yellow]interrupted[/yellow]")
        sys.exit(INTERRUPTED)


def _api(endpoint: Endpoint, retries: int, **options: Any) -> FilesApi:
    return FilesApi(endpoint, backoff=Backoff(attempts=retries), **options)


@click.group("files")
def files_group() -> None:
    """Files on any Files API: a gemfiles server or Google's own.

    \b
    Exit codes: 0 ok; 1 refused or some uploads failed; 2 usage error; 3 no key, bad key or permission;
    4 not found; 5 server or network error (after retries); 130 interrupted (uploads resume when the
    same command is run again).
    """


def parse_rate(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``500K``, ``10M``, ``1.5MiB/s``, ``2000000``: bytes per second (K, M, G are powers of 1024)."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:/s)?\s*", value, re.IGNORECASE)
    if not match:
        raise click.BadParameter("a rate such as 500K, 10M or 1.5MiB/s")
    rate = float(match.group(1)) * 1024 ** " kmg".index(match.group(2).lower() or " ")
    if rate < 1024:
        raise click.BadParameter("at least 1K (1024 bytes per second)")
    return int(rate)


@files_group.command("upload")
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
        _fail(ClientFailure("nothing was uploaded"), as_json, exit_code=USAGE)
    if len(jobs) > 1 and (display_name is not None or file_name is not None):
        raise click.UsageError(f"--display-name and --name name one file, and {len(jobs)} files were given")
    if not jobs:
        raise click.UsageError("no files to upload (directories given were empty)")
    endpoint = _endpoint(base_url, api_key, api_version, as_json)
    console = Console(stderr=as_json)
    progress = make_progress(console, disable=quiet or not console.is_terminal)
    api = _api(
        endpoint,
        retries,
        connections=parallel + 1,
        rate_limit=RateLimit(limit_rate) if limit_rate else None,
    )
    with progress:
        bars = UploadBars(progress, jobs, report_lines=not as_json)
        uploader = Uploader(api, UploadStates(), bars, chunk_size=chunk_size * MIB, fresh=fresh)
        try:
            results = asyncio.run(_upload_all(api, uploader, jobs, parallel))
        except KeyboardInterrupt:  # a second Ctrl-C: the saved states still resume
            results = [UploadResult(job, interrupted=True) for job in jobs]
    code = combined_exit_code([result.exit_code for result in results])
    if as_json:
        emit_json([result.as_json() for result in results])
    else:
        _summarise(console, results)
    sys.exit(code)


async def _upload_all(
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


@files_group.command("list")
@click.option("--page-size", type=click.IntRange(1, 100), default=100, show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many files.")
@connection_options
def list_files(
    page_size: int,
    limit: int | None,
    base_url: str | None,
    api_key: str | None,
    api_version: str | None,
    retries: int,
    as_json: bool,
) -> None:
    """List the project's files, newest first on gemfiles (every page unless --limit)."""
    endpoint = _endpoint(base_url, api_key, api_version, as_json)

    async def run() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with _api(endpoint, retries) as api:
            async for item in api.iter_files(min(page_size, limit or page_size)):
                found.append(item)
                if limit is not None and len(found) >= limit:
                    break
        return found

    files = _run(run(), as_json)
    if as_json:
        emit_json({"files": files})
    elif files:
        Console().print(files_table(files))
    else:
        error_console().print("no files")


@files_group.command("get")
@click.argument("name")
@connection_options
def get_file(
    name: str, base_url: str | None, api_key: str | None, api_version: str | None, retries: int, as_json: bool
) -> None:
    """Show one file (NAME: files/ID, ID or the file's uri)."""
    endpoint = _endpoint(base_url, api_key, api_version, as_json)
    item = _run(_with_api(endpoint, retries, lambda api: api.get_file(name)), as_json)
    if as_json:
        emit_json(item)
    else:
        Console().print(file_details(item))


@files_group.command("delete")
@click.argument("names", nargs=-1, required=True)
@connection_options
def delete_files(
    names: tuple[str, ...],
    base_url: str | None,
    api_key: str | None,
    api_version: str | None,
    retries: int,
    as_json: bool,
) -> None:
    """Delete files (each NAME: files/ID, ID or a uri)."""
    endpoint = _endpoint(base_url, api_key, api_version, as_json)

    async def run() -> tuple[list[str], list[tuple[str, ClientFailure]]]:
        deleted: list[str] = []
        failed: list[tuple[str, ClientFailure]] = []
        async with _api(endpoint, retries) as api:
            for name in names:
                try:
                    await api.delete_file(name)
                    deleted.append(f"files/{file_id(name)}")
                except (ClientFailure, ConfigError) as exc:
                    failure = exc if isinstance(exc, ClientFailure) else ClientFailure(str(exc))
                    if isinstance(exc, ConfigError):
                        failure.exit_code = USAGE
                    failed.append((name, failure))
        return deleted, failed

    deleted, failed = _run(run(), as_json)
    if as_json:
        emit_json(
            {
                "deleted": deleted,
                "failed": [{"name": name, "error": failure.as_json()} for name, failure in failed],
            }
        )
    for name in deleted if not as_json else []:
        Console().print(f"deleted {name}", highlight=False)
    for name, failure in failed:
        print_failure(failure, what=name)
    sys.exit(combined_exit_code([OK] * len(deleted) + [failure.exit_code for _, failure in failed]))


@files_group.command("download")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True, path_type=Path),
    help="File or directory to write (default: ./ID plus an extension from the MIME type).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@connection_options
def download(
    name: str,
    output: Path | None,
    force: bool,
    quiet: bool,
    base_url: str | None,
    api_key: str | None,
    api_version: str | None,
    retries: int,
    as_json: bool,
) -> None:
    """Download a file's bytes (files/{id}:download: generated files on Google; on gemfiles also uploaded
    files when the server runs with GEMFILES_ALLOW_DOWNLOAD=true)."""
    endpoint = _endpoint(base_url, api_key, api_version, as_json)
    try:
        ident = file_id(name)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    console = Console(stderr=True)
    progress = make_progress(console, disable=quiet or as_json or not console.is_terminal)

    async def run() -> tuple[Path, int]:
        async with _api(endpoint, retries) as api:
            target = output
            if target is None or target.is_dir():
                item = await api.get_file(ident)
                extension = mimetypes.guess_extension(str(item.get("mimeType", "")).split(";")[0]) or ""
                target = (target or Path.cwd()) / f"{ident}{extension}"
            if target.exists() and not force:
                raise ConfigError(f"{target} exists (pass --force to overwrite it)")
            task = progress.add_task(ident, total=None)

            def moved(total: int | None, done: int) -> None:
                progress.update(task, total=total, completed=done)

            with progress:
                written = await api.download(ident, target, moved)
            return target, written

    target, written = _run(run(), as_json)
    if as_json:
        emit_json({"name": f"files/{ident}", "path": str(target.resolve()), "sizeBytes": written})
    else:
        Console().print(f"downloaded files/{ident} -> {target} ({human_size(written)})", highlight=False)


@click.command("usage")
@connection_options
def usage(
    base_url: str | None, api_key: str | None, api_version: str | None, retries: int, as_json: bool
) -> None:
    """The project's storage use: bytes stored and reserved by uploads in progress (gemfiles only)."""
    endpoint = _endpoint(base_url, api_key, api_version, as_json)
    if endpoint.is_google:
        _fail(
            ClientFailure("not available: Google's Files API has no usage endpoint"),
            as_json,
            exit_code=FAILED,
        )
    try:
        body = _run(_with_api(endpoint, retries, lambda api: api.usage()), as_json)
    except SystemExit as exit_:
        if exit_.code == NOT_FOUND:
            error_console().print(
                "usage comes from gemfiles' /_internal/usage, served when the server runs with "
                "GEMFILES_EMULATOR_CONTROLS=true"
            )
        raise
    used, reserved = int(body.get("usedBytes") or 0), int(body.get("reservedBytes") or 0)
    if as_json:
        emit_json({"usedBytes": used, "reservedBytes": reserved})
    else:
        Console().print(
            f"used {human_size(used)} ({used:,} bytes); reserved by uploads in progress {human_size(reserved)}",
            highlight=False,
        )


async def _with_api(endpoint: Endpoint, retries: int, action: Callable[[FilesApi], Any]) -> Any:
    async with _api(endpoint, retries) as api:
        return await action(api)


__all__ = ["files_group", "usage"]
