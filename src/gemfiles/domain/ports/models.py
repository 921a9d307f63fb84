"""The model backends' ports: a backend answers ``ModelRequest``s; a factory builds the ones a routing table
names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from gemfiles.domain.calls import Finished, ModelRequest, OutputEvent, Usage


@runtime_checkable
class ModelBackend(Protocol):
    """One small Protocol: ``generate`` yields TextDelta events and ends with exactly one Finished."""

    async def generate(self, request: ModelRequest) -> AsyncIterator[OutputEvent]:
        yield Finished(Usage(0, 0))  # pragma: no cover - protocol signature

    async def count_tokens(self, request: ModelRequest) -> Usage:
        """Input tokens only (output_tokens is 0)."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class BackendFactory(Protocol):
    """Creates the model backend a routing table names (the composition root provides one)."""

    names: tuple[str, ...]

    def create(self, name: str) -> ModelBackend:
        """A ready backend; raises ValueError when it is misconfigured."""
        ...

    def own_model(self, name: str) -> str | None:
        """The model id a backend answers to by its own name (listed by GET /models), if any."""
        ...
