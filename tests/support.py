"""Test support: a real `gemfiles serve` process on loopback (gemfiles.testing, which the benchmarks share)."""

import os
import time
from pathlib import Path

from gemfiles.testing import LiveServer, free_port

ROOT = Path(__file__).resolve().parent.parent  # the checkout: where the tests run their commands

__all__ = ["ROOT", "LiveServer", "PartNumber", "free_port", "plant_orphan"]


class PartNumber:
    """A blob store's part-number source (domain.ports.PartNumbers) that always gives ``number``.

    For tests that write an upload's parts themselves, one writer per upload: no number is ever contended.
    """

    def __init__(self, number: int) -> None:
        self.next = number

    async def allocate(self) -> int:
        return self.next


def plant_orphan(data_dir: Path, name: str, size: int, age_seconds: float = 0) -> Path:
    """An object no file names in a data directory's blob store, as a crash inside a one-request upload
    leaves it, last written ``age_seconds`` ago."""
    path = data_dir / "blobs" / "objects" / name[:2] / f"{name}.data"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"o" * size)
    if age_seconds:
        when = time.time() - age_seconds
        os.utime(path, (when, when))
    return path
