"""Which backend answers which model: a routing table from settings, first matching glob wins.

``GEMFILES_MODELS='{"gpt-*": "openai", "*": "inspect"}'`` sends ``gpt-4o-mini`` to the ``openai`` backend
and everything else to the inspector. Patterns are shell globs (``fnmatch``, case-sensitive) matched
against the model id the client named, without ``models/`` (``gemini-2.5-flash``, ``tunedModels/abc``).

A backend module exposes ``create(settings) -> ModelBackend``; each backend named in the table is
created once, at start-up, so a misconfigured one fails then, with a clear message.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from gemfiles.domain.ports import ModelBackend

log = logging.getLogger("gemfiles.models")

# Backend name -> module; each module has create(settings).
BACKENDS = {
    "inspect": "gemfiles.backends.inspect",
    "openai": "gemfiles.backends.openai",
}
_GLOB = set("*?[")


@dataclass(frozen=True, slots=True)
class Route:
    pattern: str
    backend_name: str
    backend: ModelBackend


class Router:
    def __init__(self, table: list[tuple[str, str]], backends: dict[str, ModelBackend], settings: Any = None):
        self.settings = settings
        self.backends = backends
        self.routes = [Route(pattern, name, backends[name]) for pattern, name in table]

    @classmethod
    def from_settings(cls, settings: Any) -> Router:
        table = list((settings.models or {}).items())
        if not table:
            raise ValueError("GEMFILES_MODELS is empty: route at least one model pattern to a backend")
        backends: dict[str, ModelBackend] = {}
        for pattern, name in table:
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"GEMFILES_MODELS: invalid model pattern {pattern!r}")
            if name not in BACKENDS:
                known = ", ".join(BACKENDS)
                raise ValueError(
                    f"GEMFILES_MODELS: unknown backend {name!r} for {pattern!r} (known: {known})"
                )
            if name not in backends:
                backends[name] = _create(name, settings)
        return cls(table, backends, settings)

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
            own = _own_model(route.backend_name, self.settings)
            if own and own not in seen and self.route(own) is route:
                seen[own] = route.backend_name
        return list(seen.items())

    async def close(self) -> None:
        for name, backend in self.backends.items():
            try:
                await backend.close()
            except Exception:
                log.warning("closing backend %s failed", name, exc_info=True)


def _own_model(name: str, settings: Any) -> str | None:
    if name == "inspect":
        return "inspect"
    if name == "openai":
        return getattr(settings, "openai_model", None) or None
    return None


def _create(name: str, settings: Any) -> ModelBackend:
    if name == "openai" and not getattr(settings, "openai_base_url", None):
        raise ValueError(
            "GEMFILES_MODELS routes models to the openai backend, but GEMFILES_OPENAI_BASE_URL is not set"
        )
    try:
        module = importlib.import_module(BACKENDS[name])
    except ImportError as exc:
        raise ValueError(f"the {name} backend is not available: {exc}") from None
    factory = getattr(module, "create", None)
    if factory is None:
        raise ValueError(f"the {name} backend module {BACKENDS[name]} has no create(settings)")
    backend = factory(settings)
    if not isinstance(backend, ModelBackend):
        raise ValueError(f"the {name} backend does not implement the ModelBackend protocol")
    return backend
