"""The model backends by name, built from settings: the ``BackendFactory`` the composition root hands the
domain's ``ModelRouter``."""

from __future__ import annotations

from gemfiles.backends.inspect import InspectBackend
from gemfiles.backends.openai import OpenAIBackend
from gemfiles.backends.options import ConvertOptions
from gemfiles.domain.ports import ModelBackend
from gemfiles.settings import Settings

NAMES = ("inspect", "openai")


def openai_backend(settings: Settings) -> OpenAIBackend:
    if not settings.openai_base_url:
        raise ValueError(
            "GEMFILES_MODELS routes models to the openai backend, but GEMFILES_OPENAI_BASE_URL is not set "
            "(e.g. http://127.0.0.1:8000/v1)"
        )
    options = ConvertOptions(
        frame_rate=settings.openai_frame_rate,
        max_frames=settings.openai_max_frames,
        frame_max_side=settings.openai_frame_max_side,
        audio_sample_rate=settings.openai_audio_sample_rate,
        max_audio_seconds=settings.openai_max_audio_seconds.total_seconds(),
        max_text_bytes=settings.openai_max_text_bytes,
        # Decoding children get the probes' limits.
        decode_timeout=settings.probe_timeout_seconds,
        decode_memory_mib=settings.child_memory_mib,
    )
    return OpenAIBackend(
        settings.openai_base_url,
        api_key=settings.openai_api_key,
        model=settings.openai_model,
        timeout=settings.openai_timeout.total_seconds(),
        connect_timeout=settings.openai_connect_timeout.total_seconds(),
        stream=settings.openai_stream,
        include_usage=settings.openai_include_usage,
        options=options,
    )


class SettingsBackends:
    """Creates the backend a routing table names, configured by settings."""

    names: tuple[str, ...] = NAMES

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def create(self, name: str) -> ModelBackend:
        if name == "inspect":
            return InspectBackend()
        if name == "openai":
            return openai_backend(self.settings)
        raise ValueError(f"unknown backend {name!r} (known: {', '.join(NAMES)})")

    def own_model(self, name: str) -> str | None:
        if name == "inspect":
            return "inspect"
        if name == "openai":
            return self.settings.openai_model or None
        return None
