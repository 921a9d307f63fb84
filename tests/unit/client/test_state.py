"""The upload state files: what makes two runs the same upload, and how the upload URL (a credential) is kept."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from gemfiles.client.config import Endpoint
from gemfiles.client.state import SESSION_LIFETIME_SECONDS, UploadStates, default_state_dir, upload_key

URL = "http://127.0.0.1:1/upload/v1/files?upload_id=secret&upload_protocol=resumable"


def identity(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "path": "/data/talk.mp3",
        "size": 1000,
        "mtimeNs": 1,
        "baseUrl": "http://127.0.0.1:1",
        "apiVersion": "v1",
        "key": Endpoint("http://127.0.0.1:1", "the-key", "v1").key_fingerprint,
        "mimeType": "audio/mpeg",
        "displayName": "talk.mp3",
        "name": None,
    }
    base.update(changes)
    return base


def test_upload_key_is_stable_and_differs_for_any_change_of_identity() -> None:
    assert upload_key(identity()) == upload_key(dict(reversed(list(identity().items()))))
    keys = {
        upload_key(identity(**change))
        for change in (
            {},
            {"path": "/data/other.mp3"},
            {"size": 1001},
            {"mtimeNs": 2},
            {"baseUrl": "http://127.0.0.1:2"},
            {"apiVersion": "v1beta"},
            {"key": "another"},
            {"mimeType": "audio/wav"},
            {"displayName": "x"},
            {"name": "files/x"},
        )
    }
    assert len(keys) == 10


def test_save_state_writes_an_owner_only_file_in_an_owner_only_directory(tmp_path: Path) -> None:
    states = UploadStates(tmp_path / "uploads")
    key = upload_key(identity())
    states.save(key, identity(), URL, granularity=8388608)
    assert stat.S_IMODE(os.stat(states.path(key)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "uploads").st_mode) == 0o700
    record = states.load(key, identity())
    assert record is not None
    assert record["uploadUrl"] == URL
    assert record["granularity"] == 8388608
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [f"{key}.json"]  # no temporary file left


def test_save_state_never_stores_the_api_key(tmp_path: Path) -> None:
    states = UploadStates(tmp_path)
    key = upload_key(identity())
    states.save(key, identity(), URL)
    assert "the-key" not in states.path(key).read_text()


def test_load_state_refuses_another_identity_and_removes_the_file(tmp_path: Path) -> None:
    states = UploadStates(tmp_path)
    key = upload_key(identity())
    states.save(key, identity(), URL)
    assert states.load(key, identity(size=5)) is None
    assert not states.path(key).exists()


def test_load_state_ignores_and_removes_an_unreadable_file(tmp_path: Path) -> None:
    states = UploadStates(tmp_path)
    states.path("broken").write_text("{not json")
    assert states.load("broken", identity()) is None
    assert not states.path("broken").exists()


def test_load_state_forgets_a_session_older_than_a_week(tmp_path: Path) -> None:
    states = UploadStates(tmp_path)
    key = upload_key(identity())
    states.save(key, identity(), URL)
    record = json.loads(states.path(key).read_text())
    record["createdAt"] = time.time() - SESSION_LIFETIME_SECONDS - 60
    states.path(key).write_text(json.dumps(record))
    assert states.load(key, identity()) is None


def test_load_state_answers_none_when_there_is_no_file(tmp_path: Path) -> None:
    assert UploadStates(tmp_path / "missing").load("nothing", identity()) is None


def test_prune_states_removes_only_files_older_than_a_session(tmp_path: Path) -> None:
    states = UploadStates(tmp_path)
    states.save("old", identity(), URL)
    states.save("new", identity(), URL)
    past = time.time() - SESSION_LIFETIME_SECONDS - 60
    os.utime(states.path("old"), (past, past))
    assert states.prune() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json"]


def test_delete_state_is_quiet_when_the_file_is_gone(tmp_path: Path) -> None:
    UploadStates(tmp_path).delete("never-saved")


def test_default_state_dir_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "gemfiles" / "uploads"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home" / ".cache" / "gemfiles" / "uploads"
