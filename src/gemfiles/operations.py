"""Operator commands: ``gemfiles projects list|set-quota``, ``gemfiles keys create|list|revoke``,
``gemfiles scrub`` and ``gemfiles seed DIR``.

``projects``, ``keys`` and ``scrub`` work on the local stores (``--data-dir``/``--database-url``, as
``migrate``; ``--blob-url`` too for ``scrub``) or on a running server's admin API (``--server URL
--admin-token T``). Both go through the same domain service (``domain.projects.ProjectAdmin``,
``domain.scrub.Scrubber``), so they answer alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.table import Table

from gemfiles.cli_options import blob_option, console, settings_from, store_options, with_store
from gemfiles.domain.clock import SystemClock
from gemfiles.domain.models import ProjectUsage
from gemfiles.domain.ports import ApiKeyRecord, MetadataStore
from gemfiles.domain.projects import ProjectAdmin, open_project
from gemfiles.errors import ApiError
from gemfiles.settings import Settings, parse_duration

if TYPE_CHECKING:
    from gemfiles.protocol.services import Services

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
T = TypeVar("T")
SHOWN_KEYS = 20  # the keys a scrub's text report lists (--json: all of them)


def parse_size(text: str) -> int | None:
    """``10GiB``, ``500M``, ``1000000`` -> bytes; ``default`` -> None (the server's default quota)."""
    if text.strip().lower() in ("default", "none"):
        return None
    match = _SIZE.match(text)
    if not match:
        raise click.BadParameter(f"not a size: {text!r} (e.g. 1000000, 500MB, 10GiB, default)")
    number, unit = match.group(1), (match.group(2) or "").lower()
    base = 1024 ** "kmgt".index(unit[0]) * 1024 if "i" in unit else _UNITS[unit[:1]]
    return int(float(number) * base)


def admin_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = store_options(command)
    command = click.option(
        "--admin-token",
        envvar="GEMFILES_ADMIN_TOKEN",
        help="The server's GEMFILES_ADMIN_TOKEN (with --server).",
    )(command)
    command = click.option("--server", metavar="URL", help="A running server's URL: use its admin API.")(
        command
    )
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(command)


def _local(options: dict[str, Any], action: Callable[[ProjectAdmin], Any]) -> Any:
    settings = settings_from(data_dir=options.get("data_dir"), database_url=options.get("database_url"))

    async def run(store: MetadataStore) -> Any:
        return await action(ProjectAdmin(store, SystemClock(), settings.project_quota_bytes))

    try:
        return asyncio.run(with_store(settings, run))
    except ApiError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(1)


def _remote(server: str, token: str | None, action: Callable[[Any], Any]) -> Any:
    from gemfiles.client.admin import AdminApi, AdminFailure

    if not token:
        raise click.UsageError("--server needs --admin-token (or GEMFILES_ADMIN_TOKEN)")
    try:
        with AdminApi(server, token) as api:
            return action(api)
    except AdminFailure as failure:
        console.print(f"[red]error:[/red] {failure.message}")
        sys.exit(failure.exit_code)


async def _with_services(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    """The server's own services (``app.build_services``) on the local stores, migrated, for one action."""
    from gemfiles.app import build_services

    services = build_services(settings)
    try:
        await services.meta.migrate()
        return await action(services)
    finally:
        await services.generation.close()
        await services.meta.close()
        await services.blobs.close()


def _project_row(row: ProjectUsage, default_quota: int) -> dict[str, Any]:
    return {
        "project": row.project,
        "files": row.files,
        "usedBytes": str(row.used_bytes),
        "reservedBytes": str(row.reserved_bytes),
        "quotaBytes": str(row.quota(default_quota)),
        "ownQuota": row.quota_bytes is not None,
    }


def _key_row(record: ApiKeyRecord) -> dict[str, Any]:
    row = {"prefix": record.prefix, "project": record.project, "createTime": record.create_time.isoformat()}
    if record.revoke_time is not None:
        row["revokeTime"] = record.revoke_time.isoformat()
    return row


# gemfiles projects ------------------------------------------------------------------------------------------
@click.group()
def projects() -> None:
    """Projects: usage, and a project's own quota."""


@projects.command("list")
@admin_options
def projects_list(server: str | None, admin_token: str | None, as_json: bool, **options: Any) -> None:
    """Every project with its files, bytes used and reserved, and quota."""
    if server:
        body = _remote(server, admin_token, lambda api: api.projects())
    else:

        async def listed(admin: ProjectAdmin) -> dict[str, Any]:
            rows = [_project_row(r, admin.default_quota) for r in await admin.projects()]
            return {"projects": rows, "defaultQuotaBytes": str(admin.default_quota)}

        body = _local(options, listed)
    if as_json:
        click.echo(json.dumps(body))
        return
    table = Table("project", "files", "used bytes", "reserved bytes", "quota bytes")
    for row in body["projects"]:
        quota = row["quotaBytes"] + ("" if row["ownQuota"] else " (default)")
        table.add_row(row["project"], str(row["files"]), row["usedBytes"], row["reservedBytes"], quota)
    console.print(table)


@projects.command("set-quota")
@click.argument("project")
@click.argument("quota")
@admin_options
def projects_set_quota(
    project: str, quota: str, server: str | None, admin_token: str | None, as_json: bool, **options: Any
) -> None:
    """Give PROJECT its own QUOTA (bytes, or 500MB, 10GiB; `default` removes it)."""
    size = parse_size(quota)
    if server:
        body = _remote(server, admin_token, lambda api: api.set_quota(project, size))
    else:

        async def change(admin: ProjectAdmin) -> dict[str, Any]:
            return _project_row(await admin.set_quota(project, size), admin.default_quota)

        body = _local(options, change)
    if as_json:
        click.echo(json.dumps(body))
    else:
        own = "its own quota" if body["ownQuota"] else "the default quota"
        console.print(f"{project}: {own} of {int(body['quotaBytes']):,} bytes", highlight=False)


# gemfiles keys ----------------------------------------------------------------------------------------------
@click.group()
def keys() -> None:
    """API keys for GEMFILES_AUTH=keys (stored hashed)."""


@keys.command("create")
@click.option("--project", required=True, help="The project the key opens.")
@admin_options
def keys_create(
    project: str, server: str | None, admin_token: str | None, as_json: bool, **options: Any
) -> None:
    if not project or len(project) > 64:
        raise click.BadParameter("1 to 64 characters", param_hint="--project")
    if server:
        body = _remote(server, admin_token, lambda api: api.create_key(project))
    else:

        async def create(admin: ProjectAdmin) -> dict[str, Any]:
            made = await admin.create_key(project)
            return {**_key_row(made.record), "key": made.key}

        body = _local(options, create)
    if as_json:
        click.echo(json.dumps(body))
        return
    console.print(f"Created a key for project [bold]{project}[/bold] (shown once):")
    click.echo(body["key"])


@keys.command("list")
@admin_options
def keys_list(server: str | None, admin_token: str | None, as_json: bool, **options: Any) -> None:
    if server:
        rows = _remote(server, admin_token, lambda api: api.keys())["keys"]
    else:

        async def listed(admin: ProjectAdmin) -> list[dict[str, Any]]:
            return [_key_row(r) for r in await admin.keys()]

        rows = _local(options, listed)
    if as_json:
        click.echo(json.dumps({"keys": rows}))
        return
    table = Table("prefix", "project", "created", "revoked")
    for row in rows:
        table.add_row(row["prefix"], row["project"], row["createTime"][:19], row.get("revokeTime", "")[:19])
    console.print(table)


@keys.command("revoke")
@click.argument("prefix")
@admin_options
def keys_revoke(
    prefix: str, server: str | None, admin_token: str | None, as_json: bool, **options: Any
) -> None:
    """Revoke the key whose listed prefix is PREFIX."""
    if server:
        count = int(_remote(server, admin_token, lambda api: api.revoke_key(prefix))["revoked"])
    else:
        count = int(_local(options, lambda admin: admin.revoke_key(prefix)))
    if as_json:
        click.echo(json.dumps({"revoked": count}))
    else:
        console.print(f"revoked {count} key(s)")


# gemfiles scrub ---------------------------------------------------------------------------------------------
def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    try:
        return None if value is None else parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--grace",
    callback=_duration,
    help="Only bytes unnamed for longer than this (90s, 30m, 1h; default GEMFILES_SCRUB_GRACE, 1h). "
    "A grace shorter than the longest upload request can take the bytes of an upload about to commit.",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@admin_options
@blob_option
def scrub(
    grace: timedelta | None,
    dry_run: bool,
    server: str | None,
    admin_token: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Remove the orphan bytes of the blob store (bytes no metadata names, older than the grace) now, and
    print what was removed."""
    from gemfiles.domain.scrub import REPORTED_KEYS
    from gemfiles.protocol.admin import scrub_json

    if server:
        seconds = None if grace is None else grace.total_seconds()
        body = _remote(server, admin_token, lambda api: api.scrub(seconds, dry_run, all_keys=as_json))
    else:
        settings = settings_from(**options, run_workers=False)
        logging.getLogger("gemfiles.scrub").setLevel(logging.ERROR)  # its report is printed below

        async def run(services: Services) -> dict[str, Any]:
            assert services.scrubber is not None  # the composition root always makes one
            limit = None if as_json else REPORTED_KEYS
            return scrub_json(await services.scrubber.scrub(grace, dry_run=dry_run, key_limit=limit))

        body = asyncio.run(_with_services(settings, run))
    if as_json:
        click.echo(json.dumps(body))
    else:
        _print_scrub(body)
    sys.exit(1 if body["failed"] else 0)


def _print_scrub(body: dict[str, Any]) -> None:
    verb = "would remove" if body["dryRun"] else "removed"
    console.print(
        f"{verb} {body['removedObjects']} orphan object(s), {int(body['removedObjectBytes']):,} bytes; "
        f"{body['removedUploads']} unfinished upload(s), {int(body['removedUploadBytes']):,} bytes",
        highlight=False,
        soft_wrap=True,
    )
    for key in body["keys"][:SHOWN_KEYS]:
        click.echo(f"  {key}")
    more = body["removedObjects"] + body["removedUploads"] - min(len(body["keys"]), SHOWN_KEYS)
    if more:
        console.print(f"  ... and {more} more (--json lists them all)", highlight=False)
    console.print(
        f"{body['examined']} entries examined in {body['seconds']}s; {body['waiting']} unnamed but inside "
        f"the grace (left for a later scrub); {body['failed']} could not be removed"
        + ("; nothing removed (--dry-run)" if body["dryRun"] else ""),
        highlight=False,
        soft_wrap=True,
    )


# gemfiles seed ----------------------------------------------------------------------------------------------
@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--project", help="The project the files go to.")
@click.option(
    "--key", "api_key", help="...or the project of this API key (as the server's auth mode maps it)."
)
@store_options
@blob_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def seed(directory: Path, project: str | None, api_key: str | None, as_json: bool, **options: Any) -> None:
    """Upload the files of DIRECTORY into a project of the local store; files already there (same display
    name and SHA-256) are skipped, changed ones replaced."""
    from gemfiles.domain.projects import check_project, key_hash
    from gemfiles.domain.seeding import Seeder

    if bool(project) == bool(api_key):
        raise click.UsageError("give exactly one of --project and --key")
    settings = settings_from(**options, run_workers=False)

    async def run(services: Services) -> Any:
        target = project
        if api_key:
            if settings.auth == "open":
                target = open_project(api_key)
            else:
                target = await services.meta.lookup_key(key_hash(api_key))
                if target is None:
                    raise click.UsageError("that key is not an active key of this store")
        check_project(target or "")
        seeder = Seeder(services.meta, services.uploads, services.clock)
        return target, await seeder.seed(target or "", directory)

    try:
        target, report = asyncio.run(_with_services(settings, run))
    except ApiError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "project": target,
                    "added": report.added,
                    "replaced": report.replaced,
                    "skipped": report.skipped,
                    "failed": report.failed,
                }
            )
        )
    else:
        console.print(
            f"{target}: {len(report.added)} added, {len(report.replaced)} replaced, "
            f"{len(report.skipped)} unchanged, {len(report.failed)} failed",
            highlight=False,
        )
        for name, reason in report.failed.items():
            console.print(f"  [red]failed[/red] {name}: {reason}", highlight=False)
    sys.exit(1 if report.failed else 0)
