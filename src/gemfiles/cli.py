"""The command line: ``gemfiles serve``, ``gemfiles migrate``; ``keys``, ``projects``, ``scrub``, ``seed``
(operations.py).

Thin: options become Settings overrides (the environment is read by Settings alone), then the same
services the server uses do the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import sys
from typing import Any

import click

from gemfiles.cli_options import blob_option, console, redact, settings_from, store_options, with_store
from gemfiles.settings import Settings

# The client (gemfiles files ..., gemfiles usage: HTTP only, in its own package) and the operations load
# when named: `gemfiles serve` then never imports httpx and rich's tables (~5 MiB of a server's memory).
_LAZY = {
    "files": "gemfiles.client.commands:files_group",
    "usage": "gemfiles.client.commands:usage",
    "keys": "gemfiles.operations:keys",
    "projects": "gemfiles.operations:projects",
    "seed": "gemfiles.operations:seed",
    "scrub": "gemfiles.operations:scrub",
}


class _Commands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY:
            module, _, name = _LAZY[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), name)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands)
@click.version_option(package_name="gemfiles")
def main() -> None:
    """A self-hosted server for the Gemini Files API."""


@main.command()
@click.option("--host", help="Interface to bind (GEMFILES_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port (GEMFILES_PORT, default 8080).")
@store_options
@blob_option
@click.option("--public-url", help="Origin clients reach this server at (GEMFILES_PUBLIC_URL).")
@click.option("--workers", type=int, help="Server processes sharing the port (GEMFILES_WORKERS, default 1).")
def serve(**options: Any) -> None:
    """Start the server."""
    import uvicorn

    from gemfiles.app import create_app
    from gemfiles.protocol.deadlines import http_protocol

    settings = settings_from(**options)
    if settings.workers > 1:
        _multiprocess_metrics(settings)
    try:
        app = create_app(settings)  # the whole configuration is checked here, before any worker starts
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    if settings.workers > 1 and settings.seed_dir is not None:
        from gemfiles.app import seed_before_workers

        asyncio.run(seed_before_workers(settings))  # once, here: workers seeding at once would race
        settings = settings.model_copy(update={"seed_dir": None})
    base = settings.public_url or f"http://{_display_host(settings.host)}:{settings.port}"
    console.print(f"gemfiles listening on [bold]{base}[/bold]")
    console.print(f"  metadata: {redact(settings.resolved_database_url)}")
    console.print(f"  bytes:    {redact(settings.resolved_blob_url)}")
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
        # uvicorn's httptools protocol with read and send deadlines (GEMFILES_HEADER_TIMEOUT_SECONDS, ...)
        http=http_protocol(
            settings.header_timeout_seconds,
            settings.body_idle_timeout_seconds,
            settings.send_timeout_seconds,
        ),
        ws="none",  # no WebSocket routes: the protocol library is never loaded
        log_level=settings.log_level,
        access_log=False,  # gemfiles logs each request itself (protocol/observe.py, GEMFILES_ACCESS_LOG)
        # X-Forwarded-Proto and -Host are read where the public origin is made (protocol.http.origin_of);
        # uvicorn's own proxy-header layer (a dict of every request's headers) would change nothing else.
        proxy_headers=False,
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


@main.command()
@store_options
def migrate(**options: Any) -> None:
    """Bring the metadata schema up to date (safe while old replicas serve)."""
    settings = settings_from(**options)

    async def noop(store: Any) -> None:
        return None

    asyncio.run(with_store(settings, noop))
    console.print(f"schema up to date: {redact(settings.resolved_database_url)}")
