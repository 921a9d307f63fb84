"""Which backend answers which model: a routing table, first matching glob wins.

``GEMFILES_MODELS='{"gpt-*": "openai", "*": "inspect"}'`` sends ``gpt-4o-mini`` to the ``openai`` backend
and everything else to the inspector. Patterns are shell globs (``fnmatch``, case-sensitive) matched
against the model id the client named, without ``models/`` (``gemini-2.5-flash``, ``tunedModels/abc``).

Each backend the table names is created once, through the ``BackendFactory`` port, when the table is
built (at start-up), so a misconfigured one fails then, with a clear message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from gemfiles.domain.ports import BackendFactory, ModelBackend

log = logging.getLogger("gemfiles.models")

_GLOB = set("*?[")


@dataclass(frozen=True, slots=True)
class Route:
    pattern: str
    backend_name: str
    backend: ModelBackend


class ModelRouter:
    def __init__(
        self,
        table: list[tuple[str, str]],
        backends: dict[str, ModelBackend],
        own_models: Mapping[str, str | None] | None = None,
    ) -> None:
        self.backends = backends
        self.routes = [Route(pattern, name, backends[name]) for pattern, name in table]
        # The model each backend answers to by its own name (listed by GET /models).
        self.own_models = dict(own_models or {})

    @classmethod
    def build(cls, table: Mapping[str, str], factory: BackendFactory) -> ModelRouter:
        """Creates each backend the table names once; a bad table raises ValueError."""
        rows = list((table or {}).items())
        if not rows:
            raise ValueError("GEMFILES_MODELS is empty: route at least one model pattern to a backend")
        backends: dict[str, ModelBackend] = {}
        for pattern, name in rows:
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"GEMFILES_MODELS: invalid model pattern {pattern!r}")
            if name not in factory.names:
                known = ", ".join(factory.names)
                raise ValueError(
                    f"GEMFILES_MODELS: unknown backend {name!r} for {pattern!r} (known: {known})"
                )
            if name not in backends:
                backends[name] = factory.create(name)
        return cls(rows, backends, {name: factory.own_model(name) for name in backends})

    def route(self, model: str) -> Route | None:
        """The route for a model id (``gemini-2.5-flash``, ``tunedModels/x``), or None."""
        for route in self.routes:
            if fnmatchcase(model, route.pattern):
                return route
        return None

    def listed(self) -> list[tuple[str, str]]:
        """(model id, backend name) for GET /models: literal patterns, then each backend's own model name."""
        seen: dict[str, str] = {}
        for route in self.routes:
            if not _GLOB & set(route.pattern):
                seen.setdefault(route.pattern, route.backend_name)
        for route in self.routes:
            own = self.own_models.get(route.backend_name)
            if own and own not in seen and self.route(own) is route:
                seen[own] = route.backend_name
        return list(seen.items())

    async def close(self) -> None:
        for name, backend in self.backends.items():
            try:
                await backend.close()
            except Exception:
                log.warning("closing backend %s failed", name, exc_info=True)
