"""The one Settings object. Nothing else in gemfiles reads the environment.

Every field is also an environment variable with the ``GEMFILES_`` prefix
(``GEMFILES_PORT``, ``GEMFILES_FILE_TTL``, ...). Durations are written ``90s``, ``30m``, ``48h``, ``7d``
(or a plain number of seconds); sizes are bytes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gemfiles.backends.options import ConvertOptions, OpenAIOptions

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_OPENAI = OpenAIOptions()  # the openai backend's defaults, written once in backends/options.py
_CONVERT = _OPENAI.convert
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> timedelta:
    """``48h`` -> 48 hours. Accepts timedeltas and plain numbers (seconds) too."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 48h, 7d)")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEMFILES_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path(".gemfiles")
    # Origin put into X-Goog-Upload-URL and File.uri; else taken from X-Forwarded-*/Host.
    public_url: str | None = None

    # Storage backends, chosen by URL scheme. Empty: SQLite and local disk under data_dir.
    database_url: str | None = None
    blob_url: str | None = None
    auto_migrate: bool = True

    # "open": any non-empty key, one project per distinct key. "keys": only keys made by `gemfiles keys create`.
    auth: Literal["open", "keys"] = "open"

    file_ttl: Duration = timedelta(hours=48)
    upload_session_ttl: Duration = timedelta(days=7)
    sweep_interval: Duration = timedelta(minutes=1)
    # The scrub of orphan bytes (domain/scrub.py): at start-up, then this long after each run ends.
    scrub_interval: Duration = timedelta(hours=1)
    # Only bytes whose last write is older than this are scrubbed: it must exceed the longest a single
    # upload request can take (an object is unnamed between its bytes and its row's commit).
    scrub_grace: Duration = timedelta(hours=1)
    max_file_bytes: int = Field(2_147_483_648, ge=0)
    # Uploads that arrive whole and no larger than this keep their bytes in the SQLite database, written in
    # the transaction that records the file (storage/inline.py); 0 writes every file to the blob store.
    # PostgreSQL deployments always keep bytes in the blob store.
    inline_max_bytes: int = Field(64 * 1024, ge=0, le=1024 * 1024)
    project_quota_bytes: int = Field(20 * 1024**3, ge=0)
    max_request_json_bytes: int = Field(1024 * 1024, ge=1024)

    # Google refuses to download uploaded files; an operator may allow it.
    allow_download: bool = False
    # /_internal/clock and /_internal/sweep: controls for tests and emulation, off by default.
    emulator_controls: bool = False
    # Scripted answers loaded at start-up (a JSON or YAML rules file, docs/scripting.md); a bad file stops
    # the server with a message naming the rule and the field.
    script: Path | None = None
    # Server processes sharing the port (and the same stores); each is stateless, like a replica.
    workers: int = Field(1, ge=1, le=64)
    # Background work of each process (domain.workers.Runner): media probes and the expiry sweep.
    run_workers: bool = True
    probe_concurrency: int = Field(1, ge=1, le=16)
    # A probe (a child process per file) that has not answered by then is killed and the file FAILED;
    # below the worker's 600 s lease, so no other replica claims a file still being probed. The openai
    # backend's decoding children get the same time.
    probe_timeout_seconds: float = Field(300.0, gt=0, le=500)
    # Address space of each of those children (MiB): a decompression bomb fails there, not the machine.
    # Address space, not resident memory: a 1080p H.264 decode reserves about 300 MiB of it on 2 cores,
    # and a decoder's threads (one per core) reserve more on bigger machines.
    child_memory_mib: int = Field(4096, ge=256)
    # Server-side read deadlines (protocol/deadlines.py): a connection that has not sent a whole request
    # head this long after it opened (or after the first byte of a later request) is closed; a request
    # body from which no byte came for body_idle_timeout_seconds while the server waited is answered
    # 408 DEADLINE_EXCEEDED and its connection closed (an idle time between reads, never a total one).
    # A response the client has taken no byte of for send_timeout_seconds while the server waited to
    # write more is cut: the connection is aborted and the request's task ends (idle, not total, too).
    header_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    body_idle_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    send_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # One line per request (protocol/observe.py) at level info; uvicorn's own access log is always off.
    access_log: bool = True
    # json | text | auto (text on a terminal, JSON otherwise): see logs.py.
    log_format: Literal["json", "text", "auto"] = "auto"

    # GET /metrics (Prometheus text format); with a token, only for `Authorization: Bearer <token>`.
    metrics_token: str | None = None
    # Projects with their own label in per-project gauges (by bytes); the rest are summed as "other".
    metrics_top_projects: int = Field(20, ge=0, le=1000)
    # Gauges read from the metadata store at scrape time are cached this long (seconds).
    metrics_cache_seconds: float = Field(5.0, ge=0)
    # The admin API under /_internal/admin/ (projects, quotas, keys): off unless a token is set.
    admin_token: str | None = None

    # Seeding at start-up: the files of seed_dir become files of seed_project (see domain/seeding.py).
    seed_dir: Path | None = None
    seed_project: str | None = None

    # Model calls (generateContent, countTokens, interactions). Routing table: model-name glob -> backend
    # ("inspect" | "openai"), first match wins, e.g. GEMFILES_MODELS='{"gpt-*": "openai", "*": "inspect"}'.
    models: dict[str, str] = Field(default_factory=lambda: {"*": "inspect"})
    # The "openai" backend: any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp, ...).
    openai_base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1
    openai_api_key: str | None = None
    openai_model: str | None = None  # upstream model name; empty: the name the client asked for
    openai_timeout: Duration = timedelta(seconds=_OPENAI.timeout)
    openai_connect_timeout: Duration = timedelta(seconds=_OPENAI.connect_timeout)
    openai_stream: bool = _OPENAI.stream  # stream from the upstream (needed for streamed answers to stream)
    openai_include_usage: bool = _OPENAI.include_usage  # ask for stream_options.include_usage
    # Response schemas as {"type": "json_schema", ...} (the OpenAI API) or as {"type": "json_object",
    # "schema": ...} (llama-cpp-python's server).
    openai_schema_format: Literal["json_schema", "json_object"] = "json_schema"
    # How files are converted for a server with no Files API (see backends/convert.py); the defaults
    # live with the backend (backends/options.py).
    openai_frame_rate: float = Field(_CONVERT.frame_rate, gt=0)  # video frames sampled per second
    openai_max_frames: int = Field(_CONVERT.max_frames, ge=1, le=1024)  # per video; sampled evenly
    openai_frame_max_side: int = Field(_CONVERT.frame_max_side, ge=16)  # pixels
    openai_audio_sample_rate: int = Field(_CONVERT.audio_sample_rate, ge=8000)
    openai_max_audio_seconds: Duration = timedelta(seconds=_CONVERT.max_audio_seconds)
    openai_max_text_bytes: int = Field(_CONVERT.max_text_bytes, ge=1024)
    # Google's inline limits: a whole model request over 100 MB, or an inline PDF over 50 MB, is refused.
    max_request_bytes: int = Field(100 * 1024**2, ge=1024)
    max_inline_pdf_bytes: int = Field(50 * 1024**2, ge=0)
    # Stored interactions (GET /interactions/{id}, previous_interaction_id) are kept this long.
    interaction_ttl: Duration = timedelta(days=55)
    # Batch jobs (the Batch API): request lines answered at once per job, and jobs run at once per process.
    batch_concurrency: int = Field(8, ge=1, le=256)
    batch_runners: int = Field(2, ge=1, le=16)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.public_url is not None:
            self.public_url = self.public_url.rstrip("/")
            if not re.match(r"^https?://[^/]+(/.*)?$", self.public_url):
                raise ValueError(f"public_url must be an absolute http(s) URL, got {self.public_url!r}")
        if self.upload_session_ttl <= timedelta(0) or self.file_ttl <= timedelta(0):
            raise ValueError("file_ttl and upload_session_ttl must be positive")
        if self.workers > 1 and self.emulator_controls:
            # Each process has its own clock offset: moving one would split the server's idea of "now".
            raise ValueError("emulator_controls needs workers=1 (run one process per replica instead)")
        if self.sweep_interval <= timedelta(0) or self.scrub_interval <= timedelta(0):
            raise ValueError("sweep_interval and scrub_interval must be positive")
        if self.scrub_grace < timedelta(0):
            raise ValueError("scrub_grace must not be negative")
        for name in ("metrics_token", "admin_token"):
            token = getattr(self, name)
            if token is not None and len(token.strip()) < 8:
                raise ValueError(f"{name} must be at least 8 characters (or unset)")
        if self.seed_dir is not None and not self.seed_dir.is_dir():
            raise ValueError(f"seed_dir {self.seed_dir} is not a directory")
        if self.seed_project is not None and not re.match(
            r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", self.seed_project
        ):
            raise ValueError("seed_project must be 1 to 64 of A-Za-z0-9._- (starting with a letter or digit)")
        return self

    def openai_options(self) -> OpenAIOptions:
        """The openai backend's configuration; its decoding children get the probes' limits."""
        convert = ConvertOptions(
            frame_rate=self.openai_frame_rate,
            max_frames=self.openai_max_frames,
            frame_max_side=self.openai_frame_max_side,
            audio_sample_rate=self.openai_audio_sample_rate,
            max_audio_seconds=self.openai_max_audio_seconds.total_seconds(),
            max_text_bytes=self.openai_max_text_bytes,
            decode_timeout=self.probe_timeout_seconds,
            decode_memory_mib=self.child_memory_mib,
        )
        return OpenAIOptions(
            base_url=self.openai_base_url,
            api_key=self.openai_api_key,
            model=self.openai_model,
            timeout=self.openai_timeout.total_seconds(),
            connect_timeout=self.openai_connect_timeout.total_seconds(),
            stream=self.openai_stream,
            include_usage=self.openai_include_usage,
            schema_format=self.openai_schema_format,
            convert=convert,
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gemfiles.db').resolve()}"

    @property
    def resolved_blob_url(self) -> str:
        if self.blob_url:
            return self.blob_url
        return f"file://{(self.data_dir / 'blobs').resolve()}"
