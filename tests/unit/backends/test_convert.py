"""Files converted into OpenAI content parts: real media made with PyAV, Pillow and a PDF writer, stored in a
real LocalBlobStore, checked part by part against the OpenAI request types and by decoding what we send."""

from __future__ import annotations

import base64
import io
import json
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from gemfiles.backends.convert import Converted, Source, convert, estimate, frame_times
from gemfiles.backends.jsonbody import write_json
from gemfiles.backends.options import ConvertOptions
from gemfiles.domain.calls import InlineData
from gemfiles.errors import InvalidArgument
from tests.unit.backends import media
from tests.unit.backends.conftest import StoreFile
from tests.unit.backends.openai_types import PART_TYPES, materialize


async def rendered(item: Converted) -> list[dict[str, Any]]:
    """The parts exactly as they go into the request body, each checked against OpenAI's part types."""
    spool, length = await write_json(item.parts)
    try:
        data = spool.read()
    finally:
        spool.close()
        item.close()
    assert len(data) == length
    parts = json.loads(data)
    for part in parts:
        assert materialize(PART_TYPES[part["type"]].validate_python(part)) == part
    return parts


def data_url_bytes(part: dict[str, Any], mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    url = part["image_url"]["url"]
    assert url.startswith(prefix)
    return base64.b64decode(url[len(prefix) :], validate=True)


def wav_info(part: dict[str, Any]) -> tuple[int, int, float]:
    with wave.open(io.BytesIO(base64.b64decode(part["input_audio"]["data"], validate=True))) as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getnframes() / wav.getframerate()


async def test_convert_png_passes_through_as_an_identical_data_url(
    tmp_path: Path, store_file: StoreFile
) -> None:
    path = media.write_image(tmp_path / "a.png", "PNG", size=(300, 200))
    file = await store_file(path, "image/png")
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions()))
    assert part["type"] == "image_url"
    assert data_url_bytes(part, "image/png") == path.read_bytes()


@pytest.mark.parametrize(("fmt", "mime", "mode", "sent"), [
    ("BMP", "image/bmp", "RGB", "image/jpeg"),
    ("TIFF", "image/tiff", "RGBA", "image/png"),
])  # fmt: skip
async def test_convert_image_openai_does_not_take_is_reencoded(
    tmp_path: Path, store_file: StoreFile, fmt: str, mime: str, mode: str, sent: str
) -> None:
    file = await store_file(media.write_image(tmp_path / "a.img", fmt, size=(3000, 1000), mode=mode), mime)
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions(image_max_side=1024)))
    with Image.open(io.BytesIO(data_url_bytes(part, sent))) as image:
        assert image.size == (1024, 341)
        assert image.format == sent.split("/")[1].upper()


async def test_convert_undecodable_image_is_invalid_argument(tmp_path: Path, store_file: StoreFile) -> None:
    path = tmp_path / "x.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    file = await store_file(path, "image/heic")
    with pytest.raises(InvalidArgument, match="could not be decoded"):
        await convert(Source.of_file(file), ConvertOptions())


@pytest.mark.parametrize(("codec", "suffix", "mime", "fmt"), [
    ("pcm_s16le", "wav", "audio/wav", "wav"),
    ("libmp3lame", "mp3", "audio/mpeg", "mp3"),
])  # fmt: skip
async def test_convert_wav_and_mp3_pass_through_unchanged(
    tmp_path: Path, store_file: StoreFile, codec: str, suffix: str, mime: str, fmt: str
) -> None:
    path = media.write_audio(tmp_path / f"a.{suffix}", 2.0, codec=codec)
    file = await store_file(path, mime)
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions()))
    assert part["input_audio"]["format"] == fmt
    assert base64.b64decode(part["input_audio"]["data"]) == path.read_bytes()


@pytest.mark.parametrize(("codec", "suffix", "mime", "fmt"), [
    ("flac", "flac", "audio/flac", None),
    ("libopus", "ogg", "audio/ogg", "ogg"),
    ("aac", "m4a", "audio/mp4", "mp4"),
])  # fmt: skip
async def test_convert_other_audio_becomes_16khz_mono_wav(
    tmp_path: Path, store_file: StoreFile, codec: str, suffix: str, mime: str, fmt: str | None
) -> None:
    path = media.write_audio(tmp_path / f"a.{suffix}", 3.0, codec=codec, rate=48000, fmt=fmt)
    file = await store_file(path, mime)
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions()))
    assert part["input_audio"]["format"] == "wav"
    rate, channels, seconds = wav_info(part)
    assert (rate, channels) == (16000, 1)
    assert seconds == pytest.approx(3.0, abs=0.1)


async def test_convert_headerless_l16_uses_the_rate_from_its_mime_type(
    tmp_path: Path, store_file: StoreFile
) -> None:
    path = tmp_path / "a.pcm"
    samples = (np.sin(np.arange(24000) / 24000 * 2 * np.pi * 440) * 8000).astype(">i2")
    path.write_bytes(samples.tobytes())  # 1 s at 24 kHz, big-endian as RFC 2586 says
    file = await store_file(path, "audio/L16; rate=24000; channels=1", facts={})
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions()))
    assert wav_info(part) == (16000, 1, pytest.approx(1.0, abs=0.01))


async def test_convert_audio_longer_than_the_cap_is_cut(tmp_path: Path, store_file: StoreFile) -> None:
    file = await store_file(media.write_audio(tmp_path / "a.wav", 5.0, codec="pcm_s16le"), "audio/wav")
    item = await convert(Source.of_file(file), ConvertOptions(max_audio_seconds=2.0))
    assert item.tokens[0].tokens == 64  # 2 s at 32 tokens a second
    [part] = await rendered(item)
    assert wav_info(part)[2] == pytest.approx(2.0)


async def test_convert_audio_that_is_not_audio_is_invalid_argument(
    tmp_path: Path, store_file: StoreFile
) -> None:
    path = tmp_path / "a.ogg"
    path.write_bytes(b"not audio at all" * 100)
    file = await store_file(path, "audio/ogg", facts={})
    with pytest.raises(
        InvalidArgument, match=r"cannot be decoded as audio: Invalid data found when processing input\.$"
    ):
        await convert(Source.of_file(file), ConvertOptions())


def frame_second(jpeg: bytes) -> tuple[int, int]:
    """The (second mod 32, tenth) a test video's frame shows: its red and green levels encode them."""
    with Image.open(io.BytesIO(jpeg)) as image:
        red, green, _ = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    return round(red / 8), round(green / 25)


async def test_convert_video_samples_frames_at_the_rate_then_its_audio_track(
    tmp_path: Path, store_file: StoreFile
) -> None:
    file = await store_file(media.write_video(tmp_path / "v.mp4", 6.0, fps=10, gop=30), "video/mp4")
    parts = await rendered(await convert(Source.of_file(file), ConvertOptions(frame_rate=2.0)))
    header, *frames, audio = parts
    assert header["type"] == "text"
    assert "12 frames at 0.0s, 0.5s, 1.0s" in header["text"]
    assert [p["type"] for p in frames] == ["image_url"] * 12
    shown = [frame_second(data_url_bytes(p, "image/jpeg")) for p in frames]
    assert shown == [(i // 2, 5 * (i % 2)) for i in range(12)]
    rate, channels, seconds = wav_info(audio)
    assert (rate, channels) == (16000, 1)
    assert seconds == pytest.approx(6.0, abs=0.2)


async def test_convert_long_video_caps_frames_spread_over_the_whole_length(
    tmp_path: Path, store_file: StoreFile
) -> None:
    path = media.write_video(tmp_path / "v.mp4", 40.0, fps=5, gop=50, audio=False)
    file = await store_file(path, "video/mp4")
    options = ConvertOptions(frame_rate=1.0, max_frames=8, frame_max_side=64)
    item = await convert(Source.of_file(file), options)
    assert [t.modality for t in item.tokens] == ["VIDEO"]
    header, *frames = await rendered(item)
    assert "no audio track" in header["text"]
    assert len(frames) == 8
    seconds = [frame_second(data_url_bytes(p, "image/jpeg"))[0] for p in frames]
    assert frame_times(40.0, 1.0, 8) == [2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 32.5, 37.5]
    assert seconds == [2, 7, 12, 17, 22, 27, 32 % 32, 37 % 32]
    with Image.open(io.BytesIO(data_url_bytes(frames[0], "image/jpeg"))) as image:
        assert image.size == (64, 48)


def test_frame_times_follow_the_rate_until_the_cap() -> None:
    assert frame_times(3.5, 1.0, 32) == [0.0, 1.0, 2.0, 3.0]
    assert frame_times(0.2, 1.0, 32) == [0.0]
    assert frame_times(600.0, 1.0, 4) == [75.0, 225.0, 375.0, 525.0]
    assert frame_times(None, 2.0, 3) == [0.0, 0.5, 1.0]


async def test_convert_pdf_sends_its_text_page_by_page(tmp_path: Path, store_file: StoreFile) -> None:
    file = await store_file(media.write_pdf(tmp_path / "d.pdf", 5), "application/pdf")
    item = await convert(Source.of_file(file), ConvertOptions())
    assert item.tokens[0].modality == "DOCUMENT" and item.tokens[0].tokens == 5 * 258
    [part] = await rendered(item)
    text = part["text"]
    assert "5 pages" in text.splitlines()[0]
    positions = [text.index(f"[Page {n}]\nPage {n} says hello") for n in range(1, 6)]
    assert positions == sorted(positions)


async def test_convert_pdf_text_stops_at_the_cap(tmp_path: Path, store_file: StoreFile) -> None:
    file = await store_file(media.write_pdf(tmp_path / "d.pdf", 50, words_per_page=200), "application/pdf")
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions(max_text_bytes=4000)))
    assert "[Page 1]" in part["text"] and "[Page 50]" not in part["text"]
    assert len(part["text"].encode()) < 3 * 4000


async def test_convert_broken_pdf_is_invalid_argument(tmp_path: Path, store_file: StoreFile) -> None:
    path = tmp_path / "d.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    file = await store_file(path, "application/pdf")
    with pytest.raises(InvalidArgument, match="not a PDF that can be read"):
        await convert(Source.of_file(file), ConvertOptions())


async def test_convert_text_file_goes_inline_with_invalid_bytes_replaced(
    tmp_path: Path, store_file: StoreFile
) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes('# Notes\n"quoted" \\ back\ttab ünï\n'.encode() + b"\xff\xfe end\n")
    file = await store_file(path, "text/markdown; charset=utf-8")
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions()))
    assert (
        part["text"]
        == f'[{file.record.name} (text/markdown)]\n# Notes\n"quoted" \\ back\ttab ünï\n\ufffd\ufffd end\n'
    )


async def test_convert_text_file_is_cut_at_the_cap_without_splitting_a_character(
    tmp_path: Path, store_file: StoreFile
) -> None:
    path = tmp_path / "big.txt"
    path.write_text("é" * 300_000)  # 600 000 bytes, split over three blob parts
    file = await store_file(path, "text/plain")
    [part] = await rendered(await convert(Source.of_file(file), ConvertOptions(max_text_bytes=100_001)))
    body = part["text"].split("\n", 1)[1]
    assert body.startswith("é" * 50_000 + "\ufffd\n[... cut here")
    assert "longer than 100001 bytes" in body


async def test_convert_inline_data_like_a_file() -> None:
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    [part] = await rendered(
        await convert(Source.of_inline(InlineData("image/png", png.getvalue())), ConvertOptions())
    )
    assert data_url_bytes(part, "image/png") == png.getvalue()
    text = await rendered(
        await convert(Source.of_inline(InlineData("application/json", b'{"a": 1}')), ConvertOptions())
    )
    assert text[0]["text"].endswith('{"a": 1}')


async def test_convert_office_document_is_invalid_argument(tmp_path: Path, store_file: StoreFile) -> None:
    path = tmp_path / "a.docx"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    with pytest.raises(InvalidArgument, match=r"cannot take application/vnd\.openxml") as caught:
        await convert(Source.of_file(await store_file(path, mime)), ConvertOptions())
    assert caught.value.code == 400


async def test_estimate_counts_what_would_be_sent(tmp_path: Path, store_file: StoreFile) -> None:
    video = await store_file(media.write_video(tmp_path / "v.mp4", 3.0), "video/mp4")
    counts = {c.modality: c.tokens for c in await estimate(Source.of_file(video), ConvertOptions())}
    seconds = video.record.facts["duration_seconds"]  # type: ignore[index]
    assert counts == {"VIDEO": len(frame_times(seconds, 1.0, 32)) * 258, "AUDIO": int(-(-seconds * 32 // 1))}
    pdf = await store_file(media.write_pdf(tmp_path / "d.pdf", 7), "application/pdf")
    assert [c.tokens for c in await estimate(Source.of_file(pdf), ConvertOptions())] == [7 * 258]


def test_video_decoding_uses_pyav_seek_on_a_real_container(tmp_path: Path) -> None:
    """The test video has keyframes only every 3 s, so landing on exact times proves decode-after-seek."""
    path = media.write_video(tmp_path / "v.mp4", 4.0, fps=10, gop=30, audio=False)
    with av.open(str(path)) as container:
        keyframes = [p.pts for p in container.demux(video=0) if p.is_keyframe]
    assert len(keyframes) == 2


async def test_decoding_runs_in_a_child_that_is_killed_when_it_overruns(
    tmp_path: Path, store_file: StoreFile
) -> None:
    """The decoders run in child processes (a crash or a hang on hostile bytes stays there): one that takes
    longer than ``decode_timeout`` is killed and the file is refused as undecodable."""
    path = media.write_video(tmp_path / "v.mp4", 2.0)
    file = await store_file(path, "video/mp4")
    with pytest.raises(
        InvalidArgument, match="could not be decoded for the model server: the decoder gave no"
    ):
        await convert(Source.of_file(file), ConvertOptions(decode_timeout=0.01))
    item = await convert(Source.of_file(file), ConvertOptions())  # the same file, given the time
    assert sum(1 for part in await rendered(item) if part["type"] == "image_url") == 2
