"""Video and audio: real files encoded by PyAV, kept in a real local blob store, probed as the worker does."""

from __future__ import annotations

import io

import av
import pytest

from gemfiles.domain.models import FileState
from tests.unit.media import samples
from tests.unit.media.conftest import Probe

FRAME = 1 / 25  # the sample videos run at 25 fps


def pyav_duration(data: bytes) -> float | None:
    with av.open(io.BytesIO(data)) as container:
        return None if container.duration is None else container.duration / av.time_base


@pytest.mark.parametrize(
    ("container", "codec", "audio_codec", "mime", "video_name", "audio_name"),
    [
        ("mp4", "mpeg4", "aac", "video/mp4", "mpeg4", "aac"),
        ("mp4", "libx264", "aac", "video/mp4", "h264", "aac"),
        ("mp4", "mpeg4", "libmp3lame", "video/mp4", "mpeg4", "mp3"),
        ("matroska", "mpeg4", "libmp3lame", "video/x-matroska", "mpeg4", "mp3"),
    ],
)
async def test_probe_video_reports_duration_codecs_and_picture(
    probe_bytes: Probe,
    container: str,
    codec: str,
    audio_codec: str,
    mime: str,
    video_name: str,
    audio_name: str,
) -> None:
    data = samples.video(container, codec, audio_codec, seconds=2.0, fps=25, width=64, height=48)

    state, facts, error = await probe_bytes(data, mime)

    assert state == FileState.ACTIVE and error is None
    assert facts is not None
    assert facts["duration_seconds"] == pytest.approx(2.0, abs=FRAME)
    assert container in facts["container"].split(",")
    assert (facts["video_codec"], facts["width"], facts["height"]) == (video_name, 64, 48)
    assert facts["fps"] == 25.0
    assert (facts["audio_codec"], facts["sample_rate"], facts["channels"]) == (audio_name, 44100, 2)


async def test_probe_mp4_counts_frames_from_its_index(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes(samples.video("mp4", "mpeg4", None, seconds=2.0, fps=25), "video/mp4")

    assert facts is not None
    assert facts["frames"] == 50
    assert "audio_codec" not in facts


async def test_probe_live_webm_without_container_duration_measures_the_packets(probe_bytes: Probe) -> None:
    # Written to a sink FFmpeg cannot seek in, as a browser's MediaRecorder does: no Duration element.
    data = samples.video("webm", "libvpx", "libopus", seconds=2.0, sample_rate=48000, seekable=False)
    assert pyav_duration(data) is None

    state, facts, _ = await probe_bytes(data, "video/webm")

    assert state == FileState.ACTIVE
    assert facts is not None
    assert facts["duration_seconds"] == pytest.approx(2.0, abs=FRAME)
    assert facts["frames"] == 50
    assert (facts["video_codec"], facts["audio_codec"], facts["sample_rate"]) == ("vp8", "opus", 48000)


async def test_probe_video_stored_in_several_parts_reads_across_them(probe_bytes: Probe) -> None:
    data = samples.video("mp4", "mpeg4", "aac", seconds=2.0)
    _, whole, _ = await probe_bytes(data, "video/mp4")

    state, facts, _ = await probe_bytes(data, "video/mp4", parts=7)

    assert state == FileState.ACTIVE
    assert facts == whole
    assert facts is not None and facts["duration_seconds"] == pytest.approx(2.0, abs=FRAME)


async def test_probe_garbage_as_video_fails_and_says_why(probe_bytes: Probe) -> None:
    state, facts, error = await probe_bytes(bytes(range(256)) * 64, "video/mp4")

    assert state == FileState.FAILED
    assert error is not None and error["code"] == 3
    assert "not a readable video file" in error["message"]
    assert error["message"].startswith("The file files/")
    assert facts is not None and "not a readable video file" in facts["probe_error"]


async def test_probe_truncated_mp4_fails(probe_bytes: Probe) -> None:
    data = samples.video("mp4", "mpeg4", "aac")  # the index (moov) is written last, so it is cut off

    state, _, error = await probe_bytes(data[: len(data) // 2], "video/mp4")

    assert state == FileState.FAILED
    assert error is not None and error["message"]


async def test_probe_empty_file_as_video_fails(probe_bytes: Probe) -> None:
    state, _, error = await probe_bytes(b"", "video/mp4")

    assert state == FileState.FAILED
    assert error is not None and error["code"] == 3


async def test_probe_audio_only_file_as_video_fails_naming_the_streams(probe_bytes: Probe) -> None:
    state, _, error = await probe_bytes(samples.audio("wav", "pcm_s16le", 1.0), "video/mp4")

    assert state == FileState.FAILED
    assert error is not None
    assert "no video stream" in error["message"] and "audio" in error["message"]


async def test_probe_wav_reports_exact_duration_and_format(probe_bytes: Probe) -> None:
    state, facts, error = await probe_bytes(samples.audio("wav", "pcm_s16le", 1.5, 44100, 2), "audio/wav")

    assert state == FileState.ACTIVE and error is None
    assert facts is not None
    assert facts["duration_seconds"] == pytest.approx(1.5, abs=1e-6)
    assert facts["container"] == "wav"
    assert (facts["audio_codec"], facts["sample_rate"], facts["channels"]) == ("pcm_s16le", 44100, 2)
    assert "video_codec" not in facts


@pytest.mark.parametrize(
    ("container", "codec", "mime", "rate", "channels", "name", "tolerance"),
    [
        ("mp3", "libmp3lame", "audio/mpeg", 44100, 2, "mp3", 1152 / 44100),
        ("ogg", "libopus", "audio/ogg", 48000, 2, "opus", 0.02),
        ("flac", "flac", "audio/flac", 22050, 1, "flac", 0.001),
        ("ipod", "aac", "audio/mp4", 44100, 2, "aac", 1024 / 44100),
        ("webm", "libopus", "audio/webm", 48000, 1, "opus", 0.02),
    ],
)
async def test_probe_compressed_audio_reports_duration_within_a_frame(
    probe_bytes: Probe,
    container: str,
    codec: str,
    mime: str,
    rate: int,
    channels: int,
    name: str,
    tolerance: float,
) -> None:
    data = samples.audio(container, codec, 1.5, sample_rate=rate, channels=channels)

    state, facts, _ = await probe_bytes(data, mime)

    assert state == FileState.ACTIVE
    assert facts is not None
    assert facts["duration_seconds"] == pytest.approx(1.5, abs=tolerance)
    assert (facts["audio_codec"], facts["sample_rate"], facts["channels"]) == (name, rate, channels)


async def test_probe_adts_aac_measures_its_duration(probe_bytes: Probe) -> None:
    data = samples.audio("adts", "aac", 1.5, seekable=False)

    _, facts, _ = await probe_bytes(data, "audio/aac")

    assert facts is not None
    # Encoder priming and the last frame's padding: at most two AAC frames.
    assert facts["duration_seconds"] == pytest.approx(1.5, abs=2 * 1024 / 44100)


async def test_probe_mp3_whose_header_misleads_ffmpeg_measures_the_packets(probe_bytes: Probe) -> None:
    # Two CBR MP3s laid end to end (as concatenated podcasts are), with no Xing header: FFmpeg estimates
    # the length from the first frame's bit rate (32 kb/s) and is half a second short.
    data = samples.audio("mp3", "libmp3lame", 0.5, bit_rate=32_000, seekable=False) + samples.audio(
        "mp3", "libmp3lame", 3.0, bit_rate=320_000, seekable=False, noisy=True
    )
    estimate = pyav_duration(data)
    assert estimate is not None and abs(estimate - 3.5) > 0.3

    _, facts, _ = await probe_bytes(data, "audio/mpeg")

    assert facts is not None
    assert facts["duration_seconds"] == pytest.approx(3.5, abs=0.1)


async def test_probe_raw_pcm_uses_rate_and_channels_from_the_mime_type(probe_bytes: Probe) -> None:
    one_second = bytes(16000 * 2 * 2)  # 16 kHz, 16-bit, stereo

    state, facts, _ = await probe_bytes(one_second, "audio/L16; rate=16000; channels=2")

    assert state == FileState.ACTIVE
    assert facts is not None
    assert facts["duration_seconds"] == pytest.approx(1.0)
    assert (facts["audio_codec"], facts["sample_rate"], facts["channels"]) == ("pcm_s16be", 16000, 2)


async def test_probe_mulaw_defaults_to_telephone_rate_mono(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes(bytes(8000 * 3), "audio/mulaw")

    assert facts is not None
    assert facts["duration_seconds"] == pytest.approx(3.0)
    assert (facts["sample_rate"], facts["channels"]) == (8000, 1)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (bytes(range(256)) * 40, "audio/mpeg"),
        (b"This is a text file, not a song.\n" * 200, "audio/wav"),
        (b"", "audio/ogg"),
        (b"", "audio/l16"),
    ],
    ids=["noise-as-mp3", "text-as-wav", "empty-ogg", "empty-pcm"],
)
async def test_probe_bytes_that_are_not_audio_fail(probe_bytes: Probe, data: bytes, mime: str) -> None:
    state, facts, error = await probe_bytes(data, mime)

    assert state == FileState.FAILED
    assert error is not None and error["code"] == 3 and "audio" in error["message"]
    assert facts is not None and facts["probe_error"]
