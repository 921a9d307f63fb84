"""What every store-side command shares: Settings from options (errors as messages), the store options and
a metadata store opened (and migrated) for one action."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console

from gemfiles.domain.ports import MetadataStore
from gemfiles.settings import Settings

T = TypeVar("T")
console = Console()


def settings_from(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            console.print(f"[red]error:[/red] {field}: {error['msg']}")
        sys.exit(2)


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


blob_option = click.option(
    "--blob-url",
    help="Blob store: file:///path or s3://bucket/prefix (GEMFILES_BLOB_URL; default the data directory).",
)


async def with_store(settings: Settings, action: Callable[[MetadataStore], Awaitable[T]]) -> T:
    from gemfiles.storage.registry import open_metadata_store

    if not settings.database_url:  # the default SQLite file lives in the data directory
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_metadata_store(settings.resolved_database_url)
    try:
        await store.migrate()
        return await action(store)
    finally:
        await store.close()


def redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
