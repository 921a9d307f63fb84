"""A project's view of a gemfiles server's emulator controls: scripts, faults, journal, clock, reset.

``Project`` is what the pytest plugin's ``gemini`` fixture hands a test, and what anyone can build from a
server URL and an API key (each key is its own project in gemfiles' default open auth mode). It speaks
HTTP only (httpx), to a server started with ``GEMFILES_EMULATOR_CONTROLS=true``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx


class ControlError(AssertionError):
    """A control request the server refused; the message is the server's (it names the rule or fault)."""

    def __init__(self, method: str, path: str, reply: httpx.Response) -> None:
        try:
            detail = reply.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = reply.text
        super().__init__(f"{method} {path}: {reply.status_code} {detail}")
        self.status_code = reply.status_code


def new_api_key() -> str:
    """A fresh API key: in the default open auth mode, a fresh, empty project."""
    return f"test-{uuid.uuid4().hex}"


class Project:
    """One project (API key) on a gemfiles server, with helpers for its emulator controls."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or new_api_key()
        self.http = httpx.Client(
            base_url=self.base_url, headers={"x-goog-api-key": self.api_key}, timeout=timeout
        )

    @property
    def env(self) -> dict[str, str]:
        """The variables that point the Python and JS SDKs at this server with this project's key."""
        return {
            "GOOGLE_GEMINI_BASE_URL": self.base_url,
            "GEMINI_API_KEY": self.api_key,
            "GOOGLE_API_KEY": self.api_key,
        }

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.http.request(method, path, json=body)
        if reply.status_code >= 400:
            raise ControlError(method, path, reply)
        return reply.json() if reply.content else None

    # Scripted answers (docs/scripting.md section 2) ---------------------------------------------------
    def script(self, rules: Sequence[Mapping[str, Any]], *, append: bool = False) -> Any:
        """Sets (or, with ``append``, extends) this project's rules; a bad rule raises ``ControlError``."""
        return self._call("POST" if append else "PUT", "/_internal/rules", {"rules": list(rules)})

    # Faults (docs/scripting.md section 3) ------------------------------------------------------------
    def fault(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Adds one fault to the plan: ``fault("chunk_unavailable", nth=2)``. Answers the whole plan."""
        return self.faults([{"kind": kind, **fields}], append=True)

    def faults(self, faults: Sequence[Mapping[str, Any]], *, append: bool = False) -> dict[str, Any]:
        """Sets (or extends) the fault plan; answers ``{"faults": [...], "fired": [...]}``."""
        result: dict[str, Any] = self._call("POST" if append else "PUT", "/_internal/faults", list(faults))
        return result

    def fired(self) -> list[int]:
        """How many times each planned fault has fired, in plan order."""
        result: list[int] = self._call("GET", "/_internal/faults")["fired"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/_internal/faults")

    # Journal, clock, reset ---------------------------------------------------------------------------
    def journal(self) -> list[dict[str, Any]]:
        """What the model received and answered, oldest first (docs/scripting.md section 4)."""
        result: list[dict[str, Any]] = self._call("GET", "/_internal/journal")["entries"]
        return result

    def advance(self, seconds: float) -> str:
        """Moves the server's clock forward (the whole server's, not only this project's); answers the
        new time (RFC 3339)."""
        result: str = self._call("POST", "/_internal/clock", {"advance": f"{seconds}s"})["now"]
        return result

    def now(self) -> str:
        result: str = self._call("GET", "/_internal/clock")["now"]
        return result

    def reset(self) -> None:
        """Forgets this project's files, rules, faults and journal."""
        self._call("POST", "/_internal/reset", {})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
