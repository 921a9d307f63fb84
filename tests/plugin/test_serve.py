"""``gemfiles.testing.serve()`` and ``Project``: the same server and controls without pytest's fixtures."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gemfiles.testing import ControlError, Project, serve


def test_serve_runs_a_server_with_controls_for_the_block_and_removes_its_data() -> None:
    with serve() as server, Project(server.url) as project:
        data_dir = server.data_dir
        assert httpx.get(f"{server.url}/_internal/healthz").status_code == 200
        assert project.fault("chunk_unavailable", nth=2)["faults"][0]["nth"] == 2
        before = project.now()
        assert project.advance(3600) > before
        with pytest.raises(ControlError, match="400"):
            project.faults([{"kind": "no_such_fault"}])
    assert not data_dir.exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/_internal/healthz", timeout=1)


def test_serve_takes_settings_and_a_data_dir(tmp_path: Path) -> None:
    with serve(tmp_path / "data", controls=False, FILE_TTL="1h") as server, Project(server.url) as project:
        with pytest.raises(ControlError, match="404"):
            project.fired()
    assert (tmp_path / "data").is_dir()
