"""``gemfiles files list|get|delete|download`` (upload is in upload.py) and ``gemfiles usage``."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from gemfiles.client.api import file_id
from gemfiles.client.config import ConfigError
from gemfiles.client.failures import FAILED, NOT_FOUND, OK, USAGE, ClientFailure, combined_exit_code
from gemfiles.client.options import (
    connection_options,
    endpoint_or_exit,
    fail,
    make_api,
    run_command,
    with_api,
)
from gemfiles.client.output import (
    emit_json,
    error_console,
    file_details,
    files_lines,
    files_table,
    human_size,
    print_failure,
)
from gemfiles.client.progress import make_progress
from gemfiles.client.upload import upload


@click.group("files")
def files_group() -> None:
    """Files on any Files API: a gemfiles server or Google's own.

    \b
    Exit codes: 0 ok; 1 refused or some uploads failed; 2 usage error; 3 no key, bad key or permission;
    4 not found; 5 server or network error (after retries); 130 interrupted (uploads resume when the
    same command is run again).
    """


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
    endpoint = endpoint_or_exit(base_url, api_key, api_version, as_json)

    async def run() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with make_api(endpoint, retries) as api:
            async for item in api.iter_files(min(page_size, limit or page_size)):
                found.append(item)
                if limit is not None and len(found) >= limit:
                    break
        return found

    files = run_command(run(), as_json)
    if as_json:
        emit_json({"files": files})
    elif files:
        console = Console()
        if console.is_terminal:
            console.print(files_table(files))
        else:  # piped: one tab-separated line per file, nothing cut
            for line in files_lines(files):
                sys.stdout.write(line + "\n")
    else:
        error_console().print("no files")


@files_group.command("get")
@click.argument("name")
@connection_options
def get_file(
    name: str, base_url: str | None, api_key: str | None, api_version: str | None, retries: int, as_json: bool
) -> None:
    """Show one file (NAME: files/ID, ID or the file's uri)."""
    endpoint = endpoint_or_exit(base_url, api_key, api_version, as_json)
    item = run_command(with_api(endpoint, retries, lambda api: api.get_file(name)), as_json)
    if as_json:
        emit_json(item)
    else:
        sys.stdout.write("".join(line + "\n" for line in file_details(item)))


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
    endpoint = endpoint_or_exit(base_url, api_key, api_version, as_json)

    async def run() -> tuple[list[str], list[tuple[str, ClientFailure]]]:
        deleted: list[str] = []
        failed: list[tuple[str, ClientFailure]] = []
        async with make_api(endpoint, retries) as api:
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

    deleted, failed = run_command(run(), as_json)
    if as_json:
        emit_json(
            {
                "deleted": deleted,
                "failed": [{"name": name, "error": failure.as_json()} for name, failure in failed],
            }
        )
    for name in deleted if not as_json else []:
        Console(soft_wrap=True).print(f"deleted {name}", highlight=False)
    for name, failure in failed:
        print_failure(failure, what=name)
    sys.exit(combined_exit_code([OK] * len(deleted) + [failure.exit_code for _, failure in failed]))


@files_group.command("download")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="File, or directory (existing, or ending in /), to write; default ./ID plus an extension from the MIME type.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@connection_options
def download(
    name: str,
    output: str | None,
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
    endpoint = endpoint_or_exit(base_url, api_key, api_version, as_json)
    try:
        ident = file_id(name)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    console = Console(stderr=True)
    progress = make_progress(console, disable=quiet or as_json or not console.is_terminal)

    given = Path(output).expanduser() if output else Path.cwd()
    into_directory = not output or given.is_dir() or output.endswith(("/", os.sep))

    async def run() -> tuple[Path, int]:
        async with make_api(endpoint, retries) as api:
            target = given
            if into_directory:
                item = await api.get_file(ident)
                extension = mimetypes.guess_extension(str(item.get("mimeType", "")).split(";")[0]) or ""
                await asyncio.to_thread(given.mkdir, parents=True, exist_ok=True)
                target = given / f"{ident}{extension}"
            if target.exists() and not force:
                raise ConfigError(f"{target} exists (pass --force to overwrite it)")
            task = progress.add_task(ident, total=None)

            def moved(total: int | None, done: int) -> None:
                progress.update(task, total=total, completed=done)

            with progress:
                written = await api.download(ident, target, moved)
            return target, written

    target, written = run_command(run(), as_json)
    if as_json:
        emit_json({"name": f"files/{ident}", "path": str(target.resolve()), "sizeBytes": written})
    else:
        Console(soft_wrap=True).print(
            f"downloaded files/{ident} -> {target} ({human_size(written)})", highlight=False
        )


@click.command("usage")
@connection_options
@click.option(
    "--admin-token",
    envvar="GEMFILES_ADMIN_TOKEN",
    metavar="TOKEN",
    help="Read the admin API (quota and file count too) instead of /_internal/usage (GEMFILES_ADMIN_TOKEN).",
)
def usage(
    base_url: str | None,
    api_key: str | None,
    api_version: str | None,
    retries: int,
    as_json: bool,
    admin_token: str | None,
) -> None:
    """The project's storage use: bytes stored and reserved by uploads in progress (gemfiles only)."""
    endpoint = endpoint_or_exit(base_url, api_key, api_version, as_json)
    if endpoint.is_google:
        fail(
            ClientFailure("not available: Google's Files API has no usage endpoint"),
            as_json,
            exit_code=FAILED,
        )
    try:
        body = run_command(with_api(endpoint, retries, lambda api: api.usage(admin_token)), as_json)
    except SystemExit as exit_:
        if exit_.code == NOT_FOUND and not admin_token:
            error_console().print(
                "usage comes from gemfiles' /_internal/usage, served when the server runs with "
                "GEMFILES_EMULATOR_CONTROLS=true"
            )
        raise
    used, reserved = int(body.get("usedBytes") or 0), int(body.get("reservedBytes") or 0)
    quota = int(body["quotaBytes"]) if body.get("quotaBytes") else None
    if as_json:
        extra = {"quotaBytes": quota, "files": body.get("files"), "project": body.get("project")}
        emit_json({"usedBytes": used, "reservedBytes": reserved, **(extra if admin_token else {})})
    else:
        Console().print(
            f"used {human_size(used)} ({used:,} bytes); reserved by uploads in progress {human_size(reserved)}"
            + (f"; quota {human_size(quota)} ({quota:,} bytes)" if quota is not None else ""),
            highlight=False,
        )


files_group.add_command(upload)

__all__ = ["files_group", "usage"]
