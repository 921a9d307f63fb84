"""Generated file ids and tokens: Google's shape, every character of the alphabet, the system's random
source read in blocks (one read per many ids), never the same bytes twice, not even across a fork."""

from __future__ import annotations

import base64
import collections
import os

import pytest

from gemfiles.domain import ids
from gemfiles.domain.ids import CUSTOM_ID, Entropy, new_file_id, new_upload_token, random_hex


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


def test_new_file_id_reads_the_random_source_once_per_many_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = os.urandom

    def counted(n: int) -> bytes:
        reads.append(n)
        return real(n)

    monkeypatch.setattr(ids, "ENTROPY", Entropy(4096))
    monkeypatch.setattr(os, "urandom", counted)
    for _ in range(100):
        new_file_id()
        new_upload_token()
    # 100 x (16 or 32 bytes for the id, 32 for the token) is about 5 KiB: two reads of 4 KiB, not 200.
    assert 1 <= len(reads) <= 3


def test_new_file_id_drops_bytes_that_would_bias_the_alphabet(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([bytes([255] * 10 + list(range(6))), bytes(range(36, 52))])

    class Scripted(Entropy):
        def take(self, n: int) -> bytes:
            return next(draws)

    monkeypatch.setattr(ids, "ENTROPY", Scripted())
    assert new_file_id() == "abcdef" + "abcdef"  # 36 -> "a": 36 is 0 mod 36


def test_entropy_hands_out_each_byte_once_and_reads_again_when_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    def numbered(n: int) -> bytes:  # read k gives bytes 10k, 10k+1, ...
        reads.append(n)
        return bytes(range(10 * len(reads), 10 * len(reads) + n))

    monkeypatch.setattr(os, "urandom", numbered)
    entropy = Entropy(8)
    assert entropy.take(3) == bytes([10, 11, 12])
    assert entropy.take(5) == bytes([13, 14, 15, 16, 17])  # the block exactly spent, no read
    assert entropy.take(2) == bytes([20, 21])  # a new read
    assert entropy.take(7) == bytes(range(30, 37))  # 2 + 7 > 8: the rest is dropped, a new read
    assert entropy.take(20) == bytes(range(40, 60))  # larger than a block: read at its own size
    assert reads == [8, 8, 8, 20]


def test_entropy_is_forgotten_in_a_forked_child() -> None:
    ids.ENTROPY.take(1)  # the parent holds a block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bytes must not be the parent's next bytes
        os.close(read)
        os.write(write, ids.ENTROPY.take(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != ids.ENTROPY.take(32)


def test_new_upload_token_is_32_random_bytes_in_unpadded_urlsafe_base64() -> None:
    tokens = {new_upload_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == 43
        assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert len(random_hex(4)) == 8
