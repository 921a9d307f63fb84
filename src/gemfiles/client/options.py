"""What every client command shares: connection options, running a command, failing with an exit code."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from gemfiles.client.api import Backoff, FilesApi
from gemfiles.client.config import ConfigError, Endpoint, resolve_endpoint
from gemfiles.client.failures import INTERRUPTED, ClientFailure
from gemfiles.client.output import emit_json, error_console, print_failure

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


def endpoint_or_exit(
    base_url: str | None, api_key: str | None, api_version: str | None, as_json: bool
) -> Endpoint:
    try:
        return resolve_endpoint(base_url, api_key, api_version)
    except ConfigError as exc:
        fail(ClientFailure(str(exc)), as_json, exit_code=exc.exit_code)


def fail(failure: ClientFailure, as_json: bool, *, exit_code: int | None = None, what: str = "") -> NoReturn:
    code = exit_code if exit_code is not None else failure.exit_code
    print_failure(failure, what=what)
    if as_json:
        emit_json({"error": {**failure.as_json(), "exitCode": code}})
    sys.exit(code)


def run_command(coroutine: Coroutine[Any, Any, T], as_json: bool) -> T:
    """Runs one command's coroutine; a ClientFailure becomes its message and exit code."""
    try:
        return asyncio.run(coroutine)
    except ClientFailure as failure:
        fail(failure, as_json)
    except ConfigError as exc:
        fail(ClientFailure(str(exc)), as_json, exit_code=exc.exit_code)
    except KeyboardInterrupt:
        error_console().print("[yellow]interrupted[/yellow]")
        sys.exit(INTERRUPTED)


def make_api(endpoint: Endpoint, retries: int, **options: Any) -> FilesApi:
    return FilesApi(endpoint, backoff=Backoff(attempts=retries), **options)


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


async def with_api(endpoint: Endpoint, retries: int, action: Callable[[FilesApi], Any]) -> Any:
    async with make_api(endpoint, retries) as api:
        return await action(api)
