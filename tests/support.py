"""Test support: a real `gemfiles serve` process on loopback (bench/servers.py, which the benchmarks share)."""

from bench.servers import ROOT, LiveServer, free_port

__all__ = ["ROOT", "LiveServer", "PartNumber", "free_port"]


class PartNumber:
    """A blob store's part-number source (domain.ports.PartNumbers) that always gives ``number``.

    For tests that write an upload's parts themselves, one writer per upload: no number is ever contended.
    """

    def __init__(self, number: int) -> None:
        self.next = number

    async def allocate(self) -> int:
        return self.next
