"""Generated file ids: Google's shape, every character of the alphabet, one read of the random source."""

from __future__ import annotations

import collections
import secrets

import pytest

from gemfiles.domain.ids import CUSTOM_ID, new_file_id


def test_new_file_id_is_twelve_lowercase_alphanumerics() -> None:
    for _ in range(200):
        file_id = new_file_id()
        assert len(file_id) == 12
        assert set(file_id) <= set("abcdefghijklmnopqrstuvwxyz0123456789")
        assert CUSTOM_ID.match(file_id)


def test_new_file_id_draws_every_character_about_equally() -> None:
    counts = collections.Counter("".join(new_file_id() for _ in range(3000)))
    assert set(counts) == set("abcdefghijklmnopqrstuvwxyz0123456789")
    expected = 3000 * 12 / 36
    assert all(0.8 * expected < n < 1.2 * expected for n in counts.values())


def test_new_file_id_reads_the_random_source_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = secrets.token_bytes

    def counted(n: int | None = None) -> bytes:
        reads.append(n or 0)
        return real(n)

    monkeypatch.setattr(secrets, "token_bytes", counted)
    for _ in range(100):
        new_file_id()
    assert len(reads) < 105  # one read each, a second only when 5 of 16 bytes fall in the dropped 4/256


def test_new_file_id_drops_bytes_that_would_bias_the_alphabet(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([bytes([255] * 10 + list(range(6))), bytes(range(36, 52))])
    monkeypatch.setattr(secrets, "token_bytes", lambda n=None: next(draws))
    assert new_file_id() == "abcdef" + "abcdef"  # 36 -> "a": 36 is 0 mod 36
