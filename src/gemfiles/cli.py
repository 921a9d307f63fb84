"""The command line: ``gemfiles serve``, ``gemfiles migrate``, ``gemfiles keys ...``.

Thin: options become Settings overrides (the environment is read by Settings alone), then the same
services the server uses do the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import sys
from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from gemfiles.settings import Settings

console = Console()


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            console.print(f"[red]error:[/red] {field}: {error['msg']}")
        sys.exit(2)


@click.group()
@click.version_option(package_name="gemfiles")
def main() -> None:
    """A self-hosted server for the Gemini Files API."""


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say where the stores are, the same for every command."""
    command = click.option(
        "--database-url",
        help="Metadata store: sqlite:///path or postgresql://... (GEMFILES_DATABASE_URL; "
        "default SQLite in the data directory).",
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="Data directory (GEMFILES_DATA_DIR, default ./.gemfiles).",
    )(command)


@main.command()
@click.option("--host", help="Interface to bind (GEMFILES_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port (GEMFILES_PORT, default 8080).")
@store_options
@click.option(
    "--blob-url",
    help="Blob store: file:///path or s3://bucket/prefix (GEMFILES_BLOB_URL; default the data directory).",
)
@click.option("--public-url", help="Origin clients reach this server at (GEMFILES_PUBLIC_URL).")
@click.option("--workers", type=int, help="Server processes sharing the port (GEMFILES_WORKERS, default 1).")
def serve(**options: Any) -> None:
    """Start the server."""
    import uvicorn

    from gemfiles.app import create_app

    settings = _settings(**options)
    if settings.workers > 1:
        _multiprocess_metrics(settings)
    try:
        app = create_app(settings)  # the whole configuration is checked here, before any worker starts
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    base = settings.public_url or f"http://{_display_host(settings.host)}:{settings.port}"
    console.print(f"gemfiles listening on [bold]{base}[/bold]")
    console.print(f"  metadata: {_redact(settings.resolved_database_url)}")
    console.print(f"  bytes:    {_redact(settings.resolved_blob_url)}")
    console.print("Point the Gemini SDKs at it with:")
    console.print(f"  export GOOGLE_GEMINI_BASE_URL={base}", highlight=False, soft_wrap=True)
    config = uvicorn.Config(
        # Worker processes each build their own app from these very settings (a pickled factory), never
        # from the environment, so command-line options reach them too.
        app if settings.workers == 1 else functools.partial(create_app, settings),
        factory=settings.workers > 1,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="none",  # no WebSocket routes: the protocol library is never loaded
        log_level=settings.log_level,
        access_log=False,  # gemfiles logs each request itself (protocol/observe.py, GEMFILES_ACCESS_LOG)
        timeout_keep_alive=30,
    )
    _run_server(config)


def _multiprocess_metrics(settings: Settings) -> None:
    """Metrics of several worker processes: the client library's multi-process mode, in a directory of the
    data directory emptied now (values of earlier runs must not be summed in). Set in the environment, the
    library's own interface, before it is first imported here or in any worker."""
    import os
    import shutil

    directory = (settings.data_dir / "metrics").resolve()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _run_server(config: Any) -> None:
    """What ``uvicorn.run`` does, except that several workers get an app factory, not an import string."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's start-up failure (the port is taken, the lifespan failed)


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_store(settings: Settings, action: Any) -> Any:
    from gemfiles.storage.registry import open_metadata_store

    if not settings.database_url:  # the default SQLite file lives in the data directory
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_metadata_store(settings.resolved_database_url)
    try:
        await store.migrate()
        return await action(store)
    finally:
        await store.close()


@main.command()
@store_options
def migrate(**options: Any) -> None:
    """Bring the metadata schema up to date (safe while old replicas serve)."""
    settings = _settings(**options)

    async def noop(store: Any) -> None:
        return None

    _run(_with_store(settings, noop))
    console.print(f"schema up to date: {_redact(settings.resolved_database_url)}")


@main.group()
def keys() -> None:
    """API keys for GEMFILES_AUTH=keys (stored hashed)."""


@keys.command("create")
@click.option("--project", required=True, help="The project the key opens.")
@store_options
def keys_create(project: str, **options: Any) -> None:
    from gemfiles.domain.clock import SystemClock
    from gemfiles.protocol.http import key_hash

    if not project or len(project) > 64:
        raise click.BadParameter("1 to 64 characters", param_hint="--project")
    settings = _settings(**options)
    key = "gf-" + secrets.token_urlsafe(30)
    prefix = key[:10]

    async def create(store: Any) -> None:
        await store.create_key(key_hash(key), project, prefix, SystemClock().now())

    _run(_with_store(settings, create))
    console.print(f"Created a key for project [bold]{project}[/bold] (shown once):")
    click.echo(key)


@keys.command("list")
@store_options
def keys_list(**options: Any) -> None:
    settings = _settings(**options)

    async def fetch(store: Any) -> Any:
        return await store.list_keys()

    records = _run(_with_store(settings, fetch))
    table = Table("prefix", "project", "created", "revoked")
    for record in records:
        table.add_row(
            record.prefix,
            record.project,
            record.create_time.isoformat(timespec="seconds"),
            record.revoke_time.isoformat(timespec="seconds") if record.revoke_time else "",
        )
    console.print(table)


@keys.command("revoke")
@click.argument("prefix")
@store_options
def keys_revoke(prefix: str, **options: Any) -> None:
    """Revoke the key whose listed prefix is PREFIX."""
    from gemfiles.domain.clock import SystemClock

    settings = _settings(**options)

    async def revoke(store: Any) -> int:
        return int(await store.revoke_key(prefix, SystemClock().now()))

    count = _run(_with_store(settings, revoke))
    if not count:
        console.print(f"[red]no active key with prefix {prefix}[/red]")
        sys.exit(1)
    console.print(f"revoked {count} key(s)")


# The Files API client (gemfiles files ..., gemfiles usage): HTTP only, in its own package.
from gemfiles.client.commands import files_group, usage  # noqa: E402

main.add_command(files_group)
main.add_command(usage)
