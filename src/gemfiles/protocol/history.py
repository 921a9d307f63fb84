"""What the console shows of recent traffic, kept in memory by the request middleware (``observe``):

* the last ``RECENT_REQUESTS`` request log lines (the same fields as the JSON log: no key, no upload id);
* two counters sampled every ``STEP_SECONDS``: requests answered, and upload body bytes received (counted
  as they arrive, so a long upload shows as throughput, not as one spike at its end), over the last
  ``SPAN_SECONDS``.

Per process: with ``--workers N`` each worker keeps its own (the console shows the one that answered);
``/metrics`` has the summed counters.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

RECENT_REQUESTS = 200
STEP_SECONDS = 5
SPAN_SECONDS = 600


class RequestHistory:
    def __init__(
        self,
        size: int = RECENT_REQUESTS,
        step: int = STEP_SECONDS,
        span: int = SPAN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recent: deque[tuple[float, dict[str, Any]]] = deque(maxlen=size)  # (time, line)
        self.step = step
        self.points = span // step
        self.clock = clock
        # Samples: (step index, requests, upload bytes); the current step's are counted in place.
        self._samples: deque[list[int]] = deque(maxlen=self.points)

    def _current(self) -> list[int]:
        index = int(self.clock() // self.step)
        if not self._samples or self._samples[-1][0] != index:
            self._samples.append([index, 0, 0])
        return self._samples[-1]

    def received(self, count: int) -> None:
        """Upload body bytes that just arrived."""
        self._current()[2] += count

    def answered(self, line: dict[str, Any], at: float) -> None:
        """A request answered, with its log line's fields."""
        self._current()[1] += 1
        self.recent.append((at, line))  # made into the console's shape only when it asks

    def lines(self, limit: int) -> list[dict[str, Any]]:
        """The newest request lines first."""
        return [{"time": at, **line} for at, line in itertools.islice(reversed(self.recent), limit)]

    def series(self) -> dict[str, Any]:
        """The last ``points`` steps, oldest first, with zeros where nothing happened; the current step is
        included (partly counted)."""
        last = int(self.clock() // self.step)
        first = last - self.points + 1
        requests = [0] * self.points
        upload = [0] * self.points
        for index, count, received in self._samples:
            if index >= first:
                requests[index - first] = count
                upload[index - first] = received
        return {
            "stepSeconds": self.step,
            "end": (last + 1) * self.step,
            "requests": requests,
            "uploadBytes": upload,
        }
