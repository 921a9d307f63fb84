"""Real PostgreSQL and SeaweedFS processes for the tests (bench/services.py, which the benchmarks share)."""

from bench.services import (
    Postgres,
    SeaweedS3,
    ServiceError,
    shared_postgres,
    shared_seaweedfs,
    start_postgres,
    start_seaweedfs,
    stop_shared,
)

__all__ = [
    "Postgres",
    "SeaweedS3",
    "ServiceError",
    "shared_postgres",
    "shared_seaweedfs",
    "start_postgres",
    "start_seaweedfs",
    "stop_shared",
]
