"""What the commands print: one JSON document with ``--json``, tables and lines for people otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from gemfiles.client.failures import ClientFailure


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_failure(failure: ClientFailure, *, what: str = "") -> None:
    prefix = f"{what}: " if what else ""
    error_console().print(f"[red]error:[/red] {prefix}{failure}")


def human_size(value: Any) -> str:
    try:
        size = float(int(value))
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def files_table(files: list[dict[str, Any]]) -> Table:
    table = Table("name", "display name", "MIME type", "size", "state", "created", "expires", box=None)
    table.columns[0].no_wrap = True
    for item in files:
        table.add_row(
            str(item.get("name", "")),
            str(item.get("displayName", "")),
            str(item.get("mimeType", "")),
            human_size(item.get("sizeBytes")),
            str(item.get("state", "")),
            _short_time(item.get("createTime")),
            _short_time(item.get("expirationTime")),
        )
    return table


def files_lines(files: list[dict[str, Any]]) -> list[str]:
    """name, display name, MIME type, size in bytes, state, create and expiration time, tab-separated."""
    fields = ("name", "displayName", "mimeType", "sizeBytes", "state", "createTime", "expirationTime")
    return ["\t".join(str(item.get(key, "")).replace("\t", " ") for key in fields) for item in files]


def file_details(item: dict[str, Any]) -> list[str]:
    """One ``field  value`` line per field of a File, nothing cut."""
    width = max((len(key) for key in item), default=0)
    lines = []
    for key, value in item.items():
        if key == "sizeBytes":
            value = f"{value} ({human_size(value)})"
        elif isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        lines.append(f"{key.ljust(width)}  {value}")
    return lines


def _short_time(value: Any) -> str:
    text = str(value or "")
    return text[:19].replace("T", " ") if len(text) >= 19 else text
