"""The openai backend's tunables and their defaults: the one home of these numbers.

``Settings`` takes its ``openai_*`` defaults from here and the composition root passes the configured
values back in, so a default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

TIMEOUT_SECONDS = 120.0  # a whole answer may take this long between two bytes
CONNECT_TIMEOUT_SECONDS = 10.0


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
