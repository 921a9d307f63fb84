"""The client speaks HTTP only: it imports nothing of the server, so it works against any Files API."""

from __future__ import annotations

import ast
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[3] / "src" / "gemfiles" / "client"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_client_imports_nothing_of_the_server() -> None:
    modules = sorted(CLIENT.glob("*.py"))
    assert len(modules) > 5
    foreign = {
        f"{path.name}: {module}"
        for path in modules
        for module in imported_modules(path)
        if module.startswith("gemfiles") and not module.startswith("gemfiles.client")
    }
    assert not foreign, foreign
