"""Probes: facts from a file's bytes, computed once after upload and stored with the file.

Runs in a worker thread on a seekable file object from the blob store, so nothing is loaded whole.
"""

from __future__ import annotations

import asyncio
from typing import Any, BinaryIO

from gemfiles.domain.models import FileRecord, FileState
from gemfiles.media.mime import AUDIO, VIDEO, base_type
from gemfiles.storage.base import BlobStore


class NotMedia(Exception):
    """The bytes are not the media their MIME type claims."""


def probe_av(handle: BinaryIO, kind: str) -> dict[str, Any]:
    import av

    try:
        container = av.open(handle, mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise NotMedia(f"the bytes are not a readable {kind} file ({exc.__class__.__name__})") from None
    with container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        wanted = [s for s in streams if s.type == kind]
        if not wanted:
            raise NotMedia(f"the file has no {kind} stream")
        duration = None
        if container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            stream = wanted[0]
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
        facts: dict[str, Any] = {"container": container.format.name}
        if duration is not None:
            facts["duration_seconds"] = round(duration, 6)
        for stream in streams:
            codec = stream.codec_context
            if stream.type == "video" and "video_codec" not in facts:
                facts["video_codec"] = codec.name
                facts["width"] = codec.width
                facts["height"] = codec.height
            if stream.type == "audio" and "audio_codec" not in facts:
                facts["audio_codec"] = codec.name
                facts["sample_rate"] = codec.sample_rate
                facts["channels"] = codec.channels
        return facts


def probe_sync(record: FileRecord, blobs: BlobStore) -> tuple[FileState, dict[str, Any] | None, dict[str, Any] | None]:
    base = base_type(record.mime_type)
    kind = "video" if base in VIDEO else "audio" if base in AUDIO else None
    if kind is None:
        return FileState.ACTIVE, {}, None
    try:
        with blobs.reader(record.blob_key) as handle:
            facts = probe_av(handle, kind)
    except NotMedia as exc:
        error = {"code": 3, "message": f"The file {record.name} could not be processed: {exc}."}
        return FileState.FAILED, {}, error
    return FileState.ACTIVE, facts, None


async def probe(record: FileRecord, blobs: BlobStore) -> tuple[FileState, dict[str, Any] | None, dict[str, Any] | None]:
    return await asyncio.to_thread(probe_sync, record, blobs)
