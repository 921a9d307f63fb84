"""The model backends by name: the ``BackendFactory`` the composition root hands the domain's
``ModelRouter``, configured with the options settings give."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gemfiles.backends.inspect import InspectBackend
from gemfiles.backends.options import OpenAIOptions
from gemfiles.domain.ports import ModelBackend

if TYPE_CHECKING:
    from gemfiles.backends.openai import OpenAIBackend

NAMES = ("inspect", "openai")


def openai_backend(options: OpenAIOptions) -> OpenAIBackend:
    # Imported by the first openai route: httpx is ~5 MiB of a server's memory that routes no model there.
    from gemfiles.backends.openai import OpenAIBackend

    if not options.base_url:
        raise ValueError(
            "GEMFILES_MODELS routes models to the openai backend, but GEMFILES_OPENAI_BASE_URL is not set "
            "(e.g. http://127.0.0.1:8000/v1)"
        )
    return OpenAIBackend(
        options.base_url,
        api_key=options.api_key,
        model=options.model,
        timeout=options.timeout,
        connect_timeout=options.connect_timeout,
        stream=options.stream,
        include_usage=options.include_usage,
        schema_format=options.schema_format,
        options=options.convert,
    )


class BackendCatalog:
    """Creates the backend a routing table names."""

    names: tuple[str, ...] = NAMES

    def __init__(self, openai: OpenAIOptions) -> None:
        self.openai = openai

    def create(self, name: str) -> ModelBackend:
        if name == "inspect":
            return InspectBackend()
        if name == "openai":
            return openai_backend(self.openai)
        raise ValueError(f"unknown backend {name!r} (known: {', '.join(NAMES)})")

    def own_model(self, name: str) -> str | None:
        if name == "inspect":
            return "inspect"
        if name == "openai":
            return self.openai.model or None
        return None
