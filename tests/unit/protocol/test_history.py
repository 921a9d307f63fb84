"""The console's memory of recent traffic: the last request lines, and counters sampled every few seconds."""

from __future__ import annotations

from gemfiles.protocol.history import RequestHistory


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def line(n: int) -> dict[str, object]:
    return {"request_id": f"r{n}", "route": "/{version}files", "status": 200}


def test_recent_lines_keep_the_newest_first_up_to_the_size() -> None:
    history = RequestHistory(size=3)
    for n in range(5):
        history.answered(line(n), at=float(n))
    assert [entry["request_id"] for entry in history.lines(10)] == ["r4", "r3", "r2"]
    assert history.lines(1)[0] == {"time": 4.0, **line(4)}


def test_series_counts_requests_and_upload_bytes_per_step_with_zeros_between() -> None:
    clock = Clock()
    history = RequestHistory(step=5, span=30, clock=clock)
    history.answered(line(1), at=clock.now)
    history.received(1000)
    clock.now += 5
    history.received(500)
    history.received(250)
    clock.now += 10
    history.answered(line(2), at=clock.now)
    history.answered(line(3), at=clock.now)
    series = history.series()
    assert series["stepSeconds"] == 5 and series["end"] == 1020
    assert series["requests"] == [0, 0, 1, 0, 0, 2]
    assert series["uploadBytes"] == [0, 0, 1000, 750, 0, 0]


def test_series_forgets_what_is_older_than_its_span() -> None:
    clock = Clock()
    history = RequestHistory(step=5, span=20, clock=clock)
    history.answered(line(1), at=clock.now)
    clock.now += 60
    assert history.series()["requests"] == [0, 0, 0, 0]
