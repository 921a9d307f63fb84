"""The one file-kind classifier and the headerless-PCM table (domain/mime.py)."""

from __future__ import annotations

import pytest

from gemfiles.domain.mime import RAW_PCM, RawPcm, family, file_kind, is_text, raw_pcm, supported_types


@pytest.mark.parametrize(
    ("mime_type", "kind"),
    [
        ("video/mp4; codecs=avc1", "video"),
        ("VIDEO/QUICKTIME", "video"),
        ("audio/l16; rate=8000", "audio"),
        ("image/jpg", "image"),  # inline data may name types the upload allow-list does not
        ("application/pdf", "pdf"),
        ("text/plain; charset=utf-8", "text"),
        ("application/json", "text"),
        ("application/ld+json", "text"),
        ("application/atom+xml", "text"),
        ("application/vnd.ms-excel", "other"),
        ("application/zip", "other"),
        ("", "other"),
    ],
)
def test_file_kind_classifies_by_family_and_text_likeness(mime_type: str, kind: str) -> None:
    assert file_kind(mime_type) == kind


def test_file_kind_gives_every_supported_type_a_kind() -> None:
    kinds = {t: file_kind(t) for t in supported_types()[:-1]}
    office = {t for t, k in kinds.items() if k == "other"}
    assert office and all(t.startswith("application/vnd.") or t == "application/msword" for t in office)


def test_family_is_the_lower_cased_top_level_type_without_parameters() -> None:
    assert family("Text/X-Python; charset=utf-8") == "text"
    assert family("application/json") == "application"
    assert family("") == ""


def test_is_text_covers_code_and_structured_suffixes() -> None:
    assert is_text("application/x-python") and is_text("text/csv") and is_text("application/problem+json")
    assert not is_text("application/pdf") and not is_text("image/svg")


def test_raw_pcm_names_the_demuxer_and_default_rate_of_headerless_audio() -> None:
    assert raw_pcm("audio/L16; rate=44100; channels=2") == RawPcm("s16be", 16000)
    assert raw_pcm("audio/alaw") == RawPcm("alaw", 8000)
    assert raw_pcm("audio/mulaw") == RawPcm("mulaw", 8000)
    assert raw_pcm("audio/wav") is None
    assert set(RAW_PCM) <= set(supported_types())
