"""Scraping ``GET /metrics`` and reading samples with the Prometheus client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(
    client: httpx.Client, token: str | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape: (sample name, labels) -> value."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    reply = client.get("/metrics", headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
