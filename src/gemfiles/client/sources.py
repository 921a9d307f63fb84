"""Command-line paths -> the files to upload: directories walked, MIME types from extensions."""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

# What ``mimetypes`` reports as an encoding is the file's real type when it is uploaded as is.
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}


@dataclass(frozen=True)
class UploadJob:
    path: Path  # absolute
    label: str  # as the user sees it: the path given, or the path inside a given directory
    size: int
    mtime_ns: int
    mime_type: str | None  # None: unknown from the extension and not given
    display_name: str | None
    name: str | None  # files/<id> asked for with --name


def guess_mime_type(path: Path) -> str | None:
    kind, encoding = mimetypes.guess_type(path.name, strict=False)
    if encoding:
        return _ENCODING_TYPES.get(encoding)
    return kind


def collect(
    arguments: list[str],
    *,
    mime_type: str | None = None,
    display_name: str | None = None,
    name: str | None = None,
) -> tuple[list[UploadJob], list[tuple[str, str]]]:
    """The files named by ``arguments`` (directories walked recursively, hidden entries inside them
    skipped, each file once) and the arguments that could not be used, with why."""
    jobs: list[UploadJob] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(path: Path, label: str, default_display: str) -> None:
        absolute = path.resolve()
        if absolute in seen:
            return
        try:
            stat = absolute.stat()
            with open(absolute, "rb"):
                pass
        except OSError as exc:
            problems.append((label, exc.strerror or str(exc)))
            return
        seen.add(absolute)
        jobs.append(
            UploadJob(
                path=absolute,
                label=label,
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                mime_type=mime_type or guess_mime_type(absolute),
                display_name=display_name if display_name is not None else default_display,
                name=name,
            )
        )

    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            for file_path, relative in _walk(path):
                add(file_path, str(Path(argument) / relative), relative)
        elif path.is_file():
            add(path, argument, path.name)
        elif path.exists():
            problems.append((argument, "not a regular file or directory"))
        else:
            problems.append((argument, "no such file or directory"))
    return jobs, problems


def _walk(root: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for file_name in sorted(names):
            if file_name.startswith("."):
                continue
            path = Path(directory) / file_name
            if path.is_file():
                found.append((path, path.relative_to(root).as_posix()))
    return found
