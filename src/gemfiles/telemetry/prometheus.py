"""Metrics with the official Prometheus client: the domain's ``Telemetry`` port, the HTTP request metrics
(fed by ``protocol.observe``) and ``GET /metrics``.

With several worker processes (``gemfiles serve --workers N``) the server sets ``PROMETHEUS_MULTIPROC_DIR``
to a directory under the data directory, emptied at start-up, before any worker imports the client: each
process then writes its counters and histograms to its own memory-mapped files and a scrape, answered by
any one worker, sums them (``MultiProcessCollector``). Gauges of what is stored (per-project usage, uploads
in progress, the probe queue) are read from the metadata store at scrape time instead (``StoreGauges``):
they are the same for every process and every replica, so they are never summed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from gemfiles.domain.clock import Clock
from gemfiles.domain.ports import MetadataStore
from gemfiles.telemetry.gauges import StoreGauges

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# `*_created` timestamps double the series count and no dashboard here uses them.
disable_created_metrics()

# Seconds: from a cached GET (well under a millisecond) to a long upload chunk or model call.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WORK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def multiprocess_dir() -> str | None:
    """The directory the client library's multi-process mode writes to, when the server set one."""
    return os.environ.get(MULTIPROC_ENV) or None


class PrometheusTelemetry:
    """Implements ``domain.ports.Telemetry`` and the protocol's ``ServerTelemetry`` (requests, exposition)."""

    def __init__(self, gauges: StoreGauges) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.gauges = gauges
        self.registry = CollectorRegistry()
        # In multi-process mode the values live in files; metrics are not registered anywhere then.
        own = None if self.multiprocess else self.registry
        self._requests = Counter(
            "gemfiles_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=own,
        )
        self._latency = Histogram(
            "gemfiles_http_request_duration_seconds",
            "Time to answer an HTTP request (to the end of its body), by route template and method.",
            ["route", "method"],
            buckets=REQUEST_BUCKETS,
            registry=own,
        )
        self._received = Counter(
            "gemfiles_upload_received_bytes", "Bytes of upload bodies stored.", registry=own
        )
        self._probes = Histogram(
            "gemfiles_probe_duration_seconds",
            "Media probes of stored files, by file kind.",
            ["kind"],
            buckets=WORK_BUCKETS,
            registry=own,
        )
        self._probe_failures = Counter(
            "gemfiles_probe_failures", "Media probes that failed, by file kind.", ["kind"], registry=own
        )
        self._swept = Counter(
            "gemfiles_sweeper_deletions",
            "What the expiry sweep deleted: expired files, abandoned upload sessions, unreferenced blobs.",
            ["kind"],
            registry=own,
        )
        self._scrubbed = Counter(
            "gemfiles_scrub_removed_objects",
            "What the scrub removed: bytes no metadata named (kind: object, or upload for unfinished uploads).",
            ["kind"],
            registry=own,
        )
        self._scrubbed_bytes = Counter(
            "gemfiles_scrub_removed_bytes",
            "Bytes of orphan objects and uploads the scrub removed (S3 multipart parts not counted).",
            registry=own,
        )
        self._model_calls = Histogram(
            "gemfiles_model_call_duration_seconds",
            "Model-backend calls, by backend and method (generate, stream, count_tokens).",
            ["backend", "method"],
            buckets=WORK_BUCKETS,
            registry=own,
        )
        self._model_errors = Counter(
            "gemfiles_model_call_errors",
            "Model-backend calls that failed, by backend, method and kind of error.",
            ["backend", "method", "error"],
            registry=own,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        if not self.multiprocess:
            self.registry.register(gauges)

    # protocol.observe.ServerTelemetry -------------------------------------------------------------------
    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:  # label lookups once per (route, method, status), not per request
            children = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route, method),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def exposition(self) -> tuple[bytes, str]:
        await self.gauges.refresh()
        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        return await asyncio.to_thread(self._gather), CONTENT_TYPE_LATEST

    def _gather(self) -> bytes:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self.gauges)
        return generate_latest(registry)

    def close(self) -> None:
        """This process is ending: its live gauges (if any) leave the sums."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())

    # domain.ports.Telemetry -----------------------------------------------------------------------------
    def upload_bytes(self, count: int) -> None:
        self._received.inc(count)

    def probe_done(self, kind: str, seconds: float, ok: bool) -> None:
        self._probes.labels(kind).observe(seconds)
        if not ok:
            self._probe_failures.labels(kind).inc()

    def swept(self, files: int, sessions: int, blobs: int) -> None:
        for kind, count in (("file", files), ("session", sessions), ("blob", blobs)):
            if count:
                self._swept.labels(kind).inc(count)

    def scrubbed(self, objects: int, uploads: int, size: int) -> None:
        for kind, count in (("object", objects), ("upload", uploads)):
            if count:
                self._scrubbed.labels(kind).inc(count)
        if size:
            self._scrubbed_bytes.inc(size)

    def model_call(self, backend: str, method: str, seconds: float, error: str | None) -> None:
        self._model_calls.labels(backend, method).observe(seconds)
        if error is not None:
            self._model_errors.labels(backend, method, error).inc()


def prometheus_telemetry(
    meta: MetadataStore, clock: Clock, *, default_quota: int, top_projects: int, cache_seconds: float
) -> PrometheusTelemetry:
    gauges = StoreGauges(
        meta, clock, default_quota=default_quota, top_projects=top_projects, cache_seconds=cache_seconds
    )
    return PrometheusTelemetry(gauges)


__all__ = ["PrometheusTelemetry", "StoreGauges", "multiprocess_dir", "prometheus_telemetry"]
