"""The openai backend's tunables and their defaults: the one home of these numbers.

``Settings`` takes its ``openai_*`` defaults from here and gives the configured values back as an
``OpenAIOptions`` (``Settings.openai_options()``), so each default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    """How files become chat-completions content parts (``convert.py``)."""

    frame_rate: float = 1.0  # video frames per second of video
    max_frames: int = 32  # per video; a longer video gets this many, spread evenly
    frame_max_side: int = 768  # pixels, longest side of a sampled frame
    jpeg_quality: int = 80
    image_max_side: int = 2048  # only for images we re-encode; accepted types pass through untouched
    audio_sample_rate: int = 16000  # of the wav we make (speech models resample to 16 kHz anyway)
    max_audio_seconds: float = 600.0  # longer audio (and video soundtracks) is cut here
    max_text_bytes: int = 4 * 1024 * 1024  # per text file, and per PDF's extracted text
    decode_timeout: float = 300.0  # seconds a decoding child may take before it is killed
    decode_memory_mib: int = 4096  # address space of a decoding child


@dataclass(frozen=True, slots=True)
class OpenAIOptions:
    """The openai backend's configuration (``Settings.openai_options()`` fills it from GEMFILES_OPENAI_*)."""

    base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1; the backend cannot run without it
    api_key: str | None = None
    model: str | None = None  # upstream model name; empty: the name the client asked for
    timeout: float = 120.0  # seconds without a byte from the upstream (first token or between two)
    connect_timeout: float = 10.0
    stream: bool = True  # stream from the upstream (needed for streamed answers to stream)
    include_usage: bool = True  # ask for stream_options.include_usage
    # How a response schema is sent: "json_schema" (OpenAI, vLLM, Ollama, llama.cpp's own server) or
    # "json_object" with the schema beside the type (llama-cpp-python's server).
    schema_format: str = "json_schema"
    convert: ConvertOptions = ConvertOptions()
