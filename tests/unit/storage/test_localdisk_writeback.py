"""The local store starts each block's writeback as it writes it, so that the part's fsync has little left."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gemfiles.storage import localdisk


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_writeback_is_started_per_block_on_linux(tmp_path: Path) -> None:
    assert localdisk._writeback is not None
    fd = os.open(tmp_path / "part", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        localdisk._observe_and_write(fd, 0, b"a" * 4096, None)
        localdisk._observe_and_write(fd, 4096, b"b" * 100, None)
        assert localdisk._writeback(fd, 0, 4196) == 0
    finally:
        os.close(fd)
    assert (tmp_path / "part").read_bytes() == b"a" * 4096 + b"b" * 100


def test_writeback_of_a_closed_descriptor_fails_without_raising(tmp_path: Path) -> None:
    if localdisk._writeback is None:
        pytest.skip("no sync_file_range here")
    fd = os.open(tmp_path / "part", os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    assert localdisk._writeback(fd, 0, 1) == -1  # advisory: the caller's fsync reports real failures
