"""GEMFILES_SCRIPT: the start-up rules are loaded and checked when the app is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemfiles.app import create_app
from gemfiles.settings import Settings


def test_create_app_loads_the_start_up_script(tmp_path: Path) -> None:
    script = tmp_path / "rules.yaml"
    script.write_text("- name: hi\n  match: {text: hi}\n  answer: {text: hello}\n")
    app = create_app(Settings(data_dir=tmp_path / "data", script=script))
    emulator = app.state.services.emulator
    assert [rule.name for rule in emulator.scripts.startup] == ["hi"]
    assert app.state.services.generation.emulator is emulator


def test_create_app_refuses_a_bad_script_naming_the_rule_and_field(tmp_path: Path) -> None:
    script = tmp_path / "rules.json"
    script.write_text('[{"name": "busy", "answer": {"error": {"code": 99}}}]')
    with pytest.raises(ValueError, match=r"rule 0 \('busy'\): answer\.error\.code"):
        create_app(Settings(data_dir=tmp_path / "data", script=script))
