"""Gauges read from the metadata store at scrape time, cached briefly: per-project files, bytes and quota,
upload sessions in progress, the probe queue. The store is shared by every process and replica, so these
are the same wherever they are read; they cost nothing on the request path.

Per-project label values are bounded: the ``top_projects`` projects with the most bytes get their own
``project`` label, every other project is summed under ``project="other"``.

A hook for other gauges of stored work (batch jobs by state, once they exist): ``add_source(fetch)``, where
``fetch`` is a coroutine function returning ``{label value: number}`` for one labelled gauge family.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from gemfiles.domain.clock import Clock
from gemfiles.domain.models import Activity, ProjectUsage
from gemfiles.domain.ports import MetadataStore

OTHER = "other"


@dataclass(frozen=True, slots=True)
class GaugeSource:
    """One extra gauge family read at scrape time (e.g. ``gemfiles_batch_jobs`` by ``state``)."""

    name: str
    documentation: str
    label: str
    fetch: Callable[[], Awaitable[Mapping[str, float]]]


class StoreGauges(Collector):
    def __init__(
        self,
        meta: MetadataStore,
        clock: Clock,
        *,
        default_quota: int,
        top_projects: int,
        cache_seconds: float,
    ) -> None:
        self.meta = meta
        self.clock = clock
        self.default_quota = default_quota
        self.top_projects = top_projects
        self.cache_seconds = cache_seconds
        self.sources: list[GaugeSource] = []
        self._lock = asyncio.Lock()
        self._fresh_until = 0.0
        self._metrics: list[Metric] = []

    def add_source(self, source: GaugeSource) -> None:
        self.sources.append(source)

    async def refresh(self) -> None:
        """Reads the store again unless the last reading is younger than ``cache_seconds``."""
        async with self._lock:
            if time.monotonic() < self._fresh_until:
                return
            now = self.clock.now()
            projects = await self.meta.list_projects(now)
            activity = await self.meta.activity(now)
            extra = [(source, await source.fetch()) for source in self.sources]
            self._metrics = [*self._project_metrics(projects), *_activity_metrics(activity)]
            for source, values in extra:
                family = GaugeMetricFamily(source.name, source.documentation, labels=[source.label])
                for value, number in sorted(values.items()):
                    family.add_metric([value], number)
                self._metrics.append(family)
            self._fresh_until = time.monotonic() + self.cache_seconds

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics)

    def _project_metrics(self, projects: list[ProjectUsage]) -> list[Metric]:
        files = GaugeMetricFamily(
            "gemfiles_project_files", "Unexpired files per project.", labels=["project"]
        )
        used = GaugeMetricFamily(
            "gemfiles_project_used_bytes", "Bytes of stored files per project.", labels=["project"]
        )
        reserved = GaugeMetricFamily(
            "gemfiles_project_reserved_bytes",
            "Bytes reserved by uploads in progress per project.",
            labels=["project"],
        )
        quota = GaugeMetricFamily(
            "gemfiles_project_quota_bytes",
            "The quota that applies per project (summed for the other bucket).",
            labels=["project"],
        )
        for name, row in bounded(projects, self.top_projects, self.default_quota):
            files.add_metric([name], row.files)
            used.add_metric([name], row.used_bytes)
            reserved.add_metric([name], row.reserved_bytes)
            quota.add_metric([name], row.quota(self.default_quota))
        return [files, used, reserved, quota]


def bounded(projects: list[ProjectUsage], top: int, default_quota: int) -> list[tuple[str, ProjectUsage]]:
    """The ``top`` projects by bytes (used + reserved) under their own names, the rest summed as ``other``."""
    ranked = sorted(projects, key=lambda p: (-(p.used_bytes + p.reserved_bytes), p.project))
    named = [(p.project, p) for p in ranked[:top]]
    rest = ranked[top:]
    if rest:
        named.append(
            (
                OTHER,
                ProjectUsage(
                    OTHER,
                    sum(p.used_bytes for p in rest),
                    sum(p.reserved_bytes for p in rest),
                    sum(p.quota(default_quota) for p in rest),
                    sum(p.files for p in rest),
                ),
            )
        )
    return named


def _activity_metrics(activity: Activity) -> list[Metric]:
    return [
        GaugeMetricFamily(
            "gemfiles_upload_sessions_in_progress",
            "Resumable upload sessions started and not yet finished or expired (every replica).",
            value=activity.sessions_active,
        ),
        GaugeMetricFamily(
            "gemfiles_probe_queue_depth",
            "Stored files waiting for their media probe (every replica).",
            value=activity.probes_due,
        ),
    ]
