"""Reproducible benchmarks: `make bench` prints a table (MB/s, requests/s, p50/p99, peak RSS)."""
