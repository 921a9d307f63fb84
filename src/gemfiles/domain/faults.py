"""Upload and processing faults, planned per project: Google's own failures, on demand.

A test plans faults for its project (through the emulator's control surface); the upload service and the
media worker ask the plan at each fault point whether to fail there::

    fault = plan.take(project, "upload.chunk", key=upload_id)
    if fault is not None:
        raise fault.error()            # 503 UNAVAILABLE, the upload stays active, nothing stored

Points and the faults that fire there:

* ``upload.start``: ``start_exhausted``: 429 RESOURCE_EXHAUSTED before a session is created.
* ``upload.chunk``: ``chunk_unavailable``: 503 UNAVAILABLE before a chunk's bytes are read; nothing is
  stored and the session stays active (``query`` reports the size before the chunk).
* ``upload.chunk_stored``: ``drop_after_store``: the chunk is stored and committed, then the connection is
  dropped before the reply (``DropConnection``): the client must ``query`` and resume.
* ``file.processing``: ``hold_processing``: the file stays PROCESSING for ``seconds`` (by the injected
  clock); ``fail_processing``: the file ends FAILED with ``message``.

A fault counts the occurrences of its point per ``key`` (the upload id for chunk points, so ``nth`` is the
n-th chunk request of each upload, a retried chunk counting again; the project for the others) that pass its
filters, and fires on occurrences ``nth`` .. ``nth + times - 1``. Faults count independently of each other;
when two fire on the same occurrence, the first in plan order is returned. The plan lives in the server process's
memory, like the script book.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gemfiles.errors import ApiError, InvalidArgument, ResourceExhausted, Unavailable

FaultPoint = Literal["upload.start", "upload.chunk", "upload.chunk_stored", "file.processing"]
FaultKind = Literal[
    "start_exhausted", "chunk_unavailable", "drop_after_store", "hold_processing", "fail_processing"
]

POINT_OF_KIND: dict[str, FaultPoint] = {
    "start_exhausted": "upload.start",
    "chunk_unavailable": "upload.chunk",
    "drop_after_store": "upload.chunk_stored",
    "hold_processing": "file.processing",
    "fail_processing": "file.processing",
}


class DropConnection(Exception):
    """The connection is to be dropped without a reply, as a network failure would."""


class FaultError(InvalidArgument):
    """A fault plan that cannot be read; the message names the fault (index) and the field."""


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    nth: int = Field(1, ge=1, description="the first occurrence that fails (1-based)")
    times: int = Field(1, ge=1, description="how many occurrences fail from then on")
    display_name: str | None = Field(None, description="glob on the file's display name")
    mime_type: str | None = Field(None, description="glob on the file's MIME type")
    seconds: float | None = Field(None, ge=0, description="hold_processing: how long")
    message: str | None = Field(None, description="fail_processing: the file's error message; errors: text")
    retry_after: int | None = Field(None, ge=0, description="start_exhausted: Retry-After seconds")

    @model_validator(mode="after")
    def _fits_kind(self) -> Fault:
        if self.kind == "hold_processing" and self.seconds is None:
            raise ValueError("hold_processing needs 'seconds'")
        if self.seconds is not None and self.kind != "hold_processing":
            raise ValueError("'seconds' applies to hold_processing only")
        if self.retry_after is not None and self.kind != "start_exhausted":
            raise ValueError("'retry_after' applies to start_exhausted only")
        return self

    @property
    def point(self) -> FaultPoint:
        return POINT_OF_KIND[self.kind]

    def applies_to(self, display_name: str | None, mime_type: str | None) -> bool:
        return (self.display_name is None or fnmatch.fnmatchcase(display_name or "", self.display_name)) and (
            self.mime_type is None or fnmatch.fnmatchcase(mime_type or "", self.mime_type)
        )

    def fires_on(self, occurrence: int) -> bool:
        return self.nth <= occurrence < self.nth + self.times

    def error(self) -> ApiError:
        """The error a client sees for an erroring fault (start_exhausted, chunk_unavailable)."""
        if self.kind == "start_exhausted":
            headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
            return ResourceExhausted(
                self.message or "Resource has been exhausted (e.g. check quota).", headers=headers
            )
        if self.kind == "chunk_unavailable":
            return Unavailable(self.message or "The service is currently unavailable.")
        raise ValueError(f"a {self.kind} fault is not an error")

    @property
    def failure_message(self) -> str:
        """fail_processing: the ``error.message`` the FAILED file carries."""
        return self.message or "File processing failed."


@dataclass(slots=True)
class _Planned:
    fault: Fault
    counts: dict[str, int] = field(default_factory=dict)
    fired: int = 0


def parse_faults(data: Any, source: str = "faults") -> list[Fault]:
    """Faults from parsed JSON (a list, or ``{"faults": [...]}``); errors name the fault and the field."""
    if isinstance(data, dict) and set(data) == {"faults"}:
        data = data["faults"]
    if not isinstance(data, list):
        raise FaultError(f"{source}: expected a list of faults (or an object with 'faults').")
    faults, problems = [], []
    for index, item in enumerate(data):
        try:
            faults.append(Fault.model_validate(item))
        except ValidationError as exc:
            for e in exc.errors():
                where = "".join(f"{p}: " for p in e["loc"])  # a whole-fault check names its fields itself
                problems.append(f"fault {index}: {where}{e['msg'].removeprefix('Value error, ')}")
    if problems:
        raise FaultError(f"{source}: " + "; ".join(problems))
    return faults


class FaultPlan:
    """Per-project planned faults and their occurrence counters (in memory)."""

    def __init__(self) -> None:
        self._plans: dict[str, list[_Planned]] = {}

    def set_faults(self, project: str, faults: Sequence[Fault]) -> None:
        self._plans[project] = [_Planned(f) for f in faults]

    def add_faults(self, project: str, faults: Sequence[Fault]) -> None:
        self._plans.setdefault(project, []).extend(_Planned(f) for f in faults)

    def faults(self, project: str) -> list[Fault]:
        return [planned.fault for planned in self._plans.get(project, [])]

    def fired(self, project: str) -> list[int]:
        """How many times each planned fault has fired, in plan order."""
        return [planned.fired for planned in self._plans.get(project, [])]

    def reset(self, project: str) -> None:
        self._plans.pop(project, None)

    def take(
        self,
        project: str,
        point: FaultPoint,
        *,
        key: str = "",
        display_name: str | None = None,
        mime_type: str | None = None,
    ) -> Fault | None:
        """Counts one occurrence of ``point`` and returns the first planned fault that fires on it."""
        chosen = None
        for planned in self._plans.get(project, []):
            fault = planned.fault
            if fault.point != point or not fault.applies_to(display_name, mime_type):
                continue
            planned.counts[key] = occurrence = planned.counts.get(key, 0) + 1
            if chosen is None and fault.fires_on(occurrence):
                planned.fired += 1
                chosen = fault
        return chosen
