"""Test support: a real `gemfiles serve` process on loopback (gemfiles.testing, which the benchmarks share)."""

from pathlib import Path

from gemfiles.testing import LiveServer, free_port

ROOT = Path(__file__).resolve().parent.parent  # the checkout: where the tests run their commands

__all__ = ["ROOT", "LiveServer", "PartNumber", "free_port"]


class PartNumber:
    """A blob store's part-number source (domain.ports.PartNumbers) that always gives ``number``.

    For tests that write an upload's parts themselves, one writer per upload: no number is ever contended.
    """

    def __init__(self, number: int) -> None:
        self.next = number

    async def allocate(self) -> int:
        return self.next
