"""Probes per second of small images, PDFs, text and audio, through the server's Prober (isolated children),
beside the anchor: the same probe run in this process, with no isolation at all (the decoders' own cost)."""

from __future__ import annotations

import asyncio
import io
import statistics
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.smallfiles import Row
from gemfiles.domain.models import FileRecord, FileSource, FileState
from gemfiles.media.isolated import IsolatedProber
from gemfiles.media.probe import probe_sync
from gemfiles.storage.localdisk import LocalBlobStore


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(out, "PNG")
    return out.getvalue()


def _pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        None,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    stream = b"BT /F1 12 Tf 20 100 Td (Hello small PDF) Tj ET"
    objects[3] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + (body or b"") + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(8000)
        sink.writeframes(b"\x00\x01" * 8000)
    return out.getvalue()


SAMPLES = {
    "image/png": _png,
    "application/pdf": _pdf,
    "text/plain": lambda: b"first line\nsecond line\n" * 20,
    "audio/wav": _wav,
}


async def _stored(blobs: LocalBlobStore, mime_type: str, data: bytes, index: int) -> FileRecord:
    upload_key = f"probe{index:06d}{mime_type.split('/')[1].replace('-', '')}"
    state = await blobs.begin_upload(upload_key)

    class _Numbers:
        next = 0

        async def allocate(self) -> int:
            raise AssertionError("fresh upload directory")

    async def blocks():  # type: ignore[no-untyped-def]
        yield data

    part = await blobs.put_part(upload_key, state, _Numbers(), blocks(), len(data))
    key = await blobs.complete_upload(upload_key, state, [part])
    now = datetime.now(UTC)
    return FileRecord(
        project="bench",
        id=upload_key,
        display_name=None,
        mime_type=mime_type,
        size_bytes=len(data),
        sha256_hex="0" * 64,
        create_time=now,
        update_time=now,
        expire_time=now + timedelta(days=1),
        blob_key=key,
        state=FileState.ACTIVE,
        source=FileSource.UPLOADED,
    )


async def _rate(records: list[FileRecord], probe: object, concurrency: int) -> float:
    queue = list(records)
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            record = queue.pop()
            result = await probe(record)  # type: ignore[operator]
            if result.facts.get("probe_error"):
                raise RuntimeError(f"{record.mime_type}: {result.facts}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(records) / (time.perf_counter() - started)


def probe_rows(work: Path, per_kind: int, rounds: int, concurrency: int = 2) -> list[Row]:
    """``concurrency`` probes at a time, as the server's probe workers (GEMFILES_PROBE_CONCURRENCY)."""
    blobs = LocalBlobStore(work / "probe-blobs")
    prober = IsolatedProber(blobs.url, timeout=60, memory_mib=1024, blobs=blobs, children=concurrency)

    async def in_process(record: FileRecord) -> object:
        return await asyncio.to_thread(probe_sync, record, blobs)

    rows: list[Row] = []
    for mime_type, make in SAMPLES.items():
        data = make()
        records = asyncio.run(_all_stored(blobs, mime_type, data, per_kind))
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(rounds):
            theirs.append(asyncio.run(_rate(records, in_process, concurrency)))
            ours.append(asyncio.run(_rate(records, prober.probe, concurrency)))
        ratios = [o / t for o, t in zip(ours, theirs, strict=True)]
        rows.append(
            (
                f"probes of small {mime_type} ({len(data):,} bytes), {concurrency} at a time",
                f"{statistics.median(ours):,.1f}/s",
                f"in-process anchor {statistics.median(theirs):,.0f}/s; ratio {statistics.median(ratios):.3f} "
                f"({min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds of {per_kind})",
            )
        )
    prober.close()
    return rows


async def _all_stored(blobs: LocalBlobStore, mime_type: str, data: bytes, count: int) -> list[FileRecord]:
    return [await _stored(blobs, mime_type, data, index) for index in range(count)]
