"""Store gauges: bounded project labels, read at scrape time and cached."""

from __future__ import annotations

import uuid

from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.models import ProjectUsage
from gemfiles.storage.memory import MemoryMetadataStore, forget
from gemfiles.telemetry.gauges import OTHER, GaugeSource, StoreGauges, bounded


def test_bounded_names_the_top_projects_by_bytes_and_sums_the_rest() -> None:
    rows = [ProjectUsage(f"p{i}", used_bytes=i * 10, reserved_bytes=0, files=1) for i in range(1, 6)]
    rows.append(ProjectUsage("own", used_bytes=1, reserved_bytes=0, quota_bytes=7, files=2))
    named = dict(bounded(rows, 2, default_quota=100))
    assert list(named) == ["p5", "p4", OTHER]
    other = named[OTHER]
    assert (other.used_bytes, other.files) == (10 + 20 + 30 + 1, 5)
    assert other.quota(100) == 3 * 100 + 7


def test_bounded_with_no_room_puts_every_project_in_other() -> None:
    rows = [ProjectUsage("a", 1, 0), ProjectUsage("b", 2, 0)]
    assert [name for name, _ in bounded(rows, 0, 10)] == [OTHER]


async def test_gauges_are_read_once_per_cache_period_and_take_extra_sources() -> None:
    name = f"gauges-{uuid.uuid4().hex[:8]}"
    meta = MemoryMetadataStore(name)
    try:
        await meta.set_quota("p", 5)
        calls = []

        async def jobs() -> dict[str, float]:
            calls.append(1)
            return {"RUNNING": 2, "SUCCEEDED": 5}

        gauges = StoreGauges(meta, OffsetClock(), default_quota=10, top_projects=5, cache_seconds=60)
        gauges.add_source(GaugeSource("gemfiles_batch_jobs", "Batch jobs by state.", "state", jobs))
        await gauges.refresh()
        await gauges.refresh()
        assert len(calls) == 1
        samples = {(s.name, tuple(s.labels.values())): s.value for m in gauges.collect() for s in m.samples}
        assert samples[("gemfiles_project_quota_bytes", ("p",))] == 5
        assert samples[("gemfiles_batch_jobs", ("RUNNING",))] == 2
        assert samples[("gemfiles_upload_sessions_in_progress", ())] == 0
    finally:
        forget(name)
