"""The telemetry port: what the domain reports as it works, counted by a metrics adapter
(``gemfiles.telemetry``), or by nothing."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Telemetry(Protocol):
    """What the domain reports as it works (counted by a metrics adapter). Every method is cheap and never
    raises: it is called on hot paths (each stored chunk, each model call)."""

    def upload_bytes(self, count: int) -> None:
        """``count`` bytes of an upload's body were stored."""

    def probe_done(self, kind: str, seconds: float, ok: bool) -> None:
        """A media probe of a file of this kind (``image``, ``video``, ...) ended, well or not."""

    def swept(self, files: int, sessions: int, blobs: int) -> None:
        """An expiry sweep deleted this many files, abandoned sessions and blobs."""

    def scrubbed(self, objects: int, uploads: int, size: int) -> None:
        """A scrub removed this many orphan objects and unfinished uploads, ``size`` bytes in all."""

    def model_call(self, backend: str, method: str, seconds: float, error: str | None) -> None:
        """A model backend answered (``error``: None, or the kind of failure, e.g. ``NotFound``)."""


class NoTelemetry:
    """The default: nothing is counted."""

    def upload_bytes(self, count: int) -> None:
        return None

    def probe_done(self, kind: str, seconds: float, ok: bool) -> None:
        return None

    def swept(self, files: int, sessions: int, blobs: int) -> None:
        return None

    def scrubbed(self, objects: int, uploads: int, size: int) -> None:
        return None

    def model_call(self, backend: str, method: str, seconds: float, error: str | None) -> None:
        return None
