"""Test support: a real `gemfiles serve` process on loopback (bench/servers.py, which the benchmarks share)."""

from bench.servers import ROOT, LiveServer, free_port

__all__ = ["ROOT", "LiveServer", "free_port"]
