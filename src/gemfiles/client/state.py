"""One small file per upload in progress, so that running the same command again resumes it.

A state file is named by a digest of what makes "the same upload": the file's absolute path, size and
modification time, the server (base URL and API version), a fingerprint of the key (never the key) and the
metadata asked for. It holds the upload URL, which is a credential (the upload id opens the session without a
key), so the directory is 0700 and each file 0600, written whole and renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

SESSION_LIFETIME_SECONDS = 7 * 24 * 3600  # Google's resumable sessions live a week (WIRE.md 5.5)
_VERSION = 1


def default_state_dir() -> Path:
    """``$XDG_CACHE_HOME/gemfiles/uploads``, or ``~/.cache/gemfiles/uploads``."""
    cache = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return root / "gemfiles" / "uploads"


def upload_key(identity: dict[str, Any]) -> str:
    """The state file's name: a digest of everything that makes two runs the same upload."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


class UploadStates:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_state_dir()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str, identity: dict[str, Any]) -> dict[str, Any] | None:
        """The saved state for ``key`` if it is readable, ours, for the same identity and young enough to
        still be a live session; otherwise None (and a stale or unreadable file is removed)."""
        path = self.path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self.delete(key)
            return None
        if (
            not isinstance(record, dict)
            or record.get("version") != _VERSION
            or record.get("identity") != identity
            or not isinstance(record.get("uploadUrl"), str)
            or time.time() - float(record.get("createdAt", 0)) > SESSION_LIFETIME_SECONDS
        ):
            self.delete(key)
            return None
        return record

    def save(self, key: str, identity: dict[str, Any], upload_url: str, **extra: Any) -> None:
        self._ensure_directory()
        record = {
            "version": _VERSION,
            "identity": identity,
            "uploadUrl": upload_url,
            "createdAt": time.time(),
            **extra,
        }
        target = self.path(key)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a leftover temporary file of ours keeps its mode otherwise
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def delete(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self.path(key).unlink()

    def prune(self, now: float | None = None) -> int:
        """Removes state files older than a session can live; answers how many."""
        now = time.time() if now is None else now
        removed = 0
        try:
            entries = list(self.directory.glob("*.json"))
        except OSError:
            return 0
        for entry in entries:
            try:
                if now - entry.stat().st_mtime > SESSION_LIFETIME_SECONDS:
                    entry.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.directory, 0o700)
