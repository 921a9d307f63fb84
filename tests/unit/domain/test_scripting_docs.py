"""The examples in docs/scripting.md load as they are documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from gemfiles.domain.faults import parse_faults
from gemfiles.domain.script import parse_rules

DOC = Path(__file__).resolve().parents[3] / "docs" / "scripting.md"
BLOCK = re.compile(r"^```(\w+) (rules|faults)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def test_documented_examples_load() -> None:
    found = blocks()
    assert {(language, kind) for language, kind, _ in found} == {
        ("yaml", "rules"),
        ("json", "rules"),
        ("json", "faults"),
    }
    for language, kind, body in found:
        data = yaml.safe_load(body) if language == "yaml" else json.loads(body)
        loaded = parse_rules(data) if kind == "rules" else parse_faults(data)
        assert loaded
