"""What the local disk store holds, listed for the scrub (domain/scrub.py): blocking walks of its folders,
run in the store's disk threads one folder at a time, so nothing is ever held whole in memory.

    objects/<k[:2]>/<key>/        an object of parts       -> StoredBlob("object", "<k[:2]>/<key>")
    objects/<k[:2]>/<key>.data    an object written whole  -> StoredBlob("object", "<k[:2]>/<key>")
    objects/<k[:2]>/<key>.tmp     an object being written  -> StoredBlob("upload", "<key>", handle tmp)
    uploads/<key>/                an upload's parts        -> StoredBlob("upload", "<key>")

A folder's time is its latest write: the newest of the folder and the files in it. Names that are not the
store's own are left out (and so never removed).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from gemfiles.domain.ports import StoredBlob

UPLOAD_NAMES_PER_JOB = 200


def _own(name: str) -> bool:
    return bool(name) and name.isalnum() and name.isascii()


def _when(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, UTC)


def _folder(path: Path) -> tuple[int, float] | None:
    """(bytes of its parts, latest write of it or any file in it) of a folder; None if it went away."""
    try:
        size, latest = 0, os.stat(path).st_mtime
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if entry.name.endswith(".part"):
                    size += stat.st_size  # the content; a manifest is bookkeeping
                latest = max(latest, stat.st_mtime)
        return size, latest
    except (FileNotFoundError, NotADirectoryError):
        return None


def prefixes(objects: Path) -> list[str]:
    try:
        return sorted(name for name in os.listdir(objects) if len(name) == 2 and _own(name))
    except FileNotFoundError:
        return []


def scan_prefix(objects: Path, prefix: str) -> list[StoredBlob]:
    """The objects (and objects being written) of one ``objects/<k[:2]>/`` folder, in key order."""
    found: list[StoredBlob] = []
    try:
        names = sorted(os.listdir(objects / prefix))
    except FileNotFoundError:
        return found
    for name in names:
        stem, dot, suffix = name.partition(".")
        if not _own(stem) or stem[:2] != prefix:
            continue
        path = objects / prefix / name
        if not dot:
            folder = _folder(path)
            if folder is not None:
                found.append(StoredBlob("object", f"{prefix}/{stem}", folder[0], _when(folder[1])))
            continue
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        if suffix == "data":
            found.append(StoredBlob("object", f"{prefix}/{stem}", stat.st_size, _when(stat.st_mtime)))
        elif suffix == "tmp":
            found.append(StoredBlob("upload", stem, stat.st_size, _when(stat.st_mtime), {"tmp": True}))
    return found


def upload_names(uploads: Path) -> list[str]:
    try:
        return sorted(name for name in os.listdir(uploads) if _own(name))
    except FileNotFoundError:
        return []


def scan_uploads(uploads: Path, names: list[str]) -> list[StoredBlob]:
    found: list[StoredBlob] = []
    for name in names:
        folder = _folder(uploads / name)
        if folder is not None:
            found.append(StoredBlob("upload", name, folder[0], _when(folder[1])))
    return found
