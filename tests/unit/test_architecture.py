"""The layering of docs/architecture.md, checked: imports point inward, modules and functions stay small."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "gemfiles"
MAX_MODULE_LINES = 420  # "about 400": a module past this is split by noun
MAX_DOMAIN_FUNCTION_LINES = 60


def lint_imports(config: Path, python_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(python_path)}
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=120,
    )


def test_imports_point_inward_and_form_no_cycles() -> None:
    result = lint_imports(ROOT / "pyproject.toml", ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "backwards_import", "broken_contract"),
    [
        ("domain/files.py", "import gemfiles.protocol.http", "The domain depends on nothing outside itself"),
        (
            "domain/files.py",
            "import gemfiles.storage.registry",
            "The domain depends on nothing outside itself",
        ),
        ("storage/registry.py", "import gemfiles.protocol.http", "Adapters implement the domain's ports"),
        ("protocol/files.py", "import gemfiles.storage.registry", "Only the composition root knows"),
        ("testing/server.py", "import gemfiles.errors", "The testing helpers drive a server from outside"),
        (
            "testing/server.py",
            "import starlette.testclient",
            "The testing helpers drive a server from outside",
        ),
        (
            "protocol/files.py",
            "import tests.support",
            "The package never imports the benchmarks or the tests",
        ),
        (
            "storage/registry.py",
            "import bench.httpload",
            "The package never imports the benchmarks or the tests",
        ),
        ("domain/workers.py", "import prometheus_client", "The domain depends on nothing outside itself"),
        ("telemetry/gauges.py", "import gemfiles.protocol.http", "Adapters implement the domain's ports"),
        ("protocol/admin.py", "import gemfiles.telemetry.prometheus", "Only the composition root knows"),
    ],
)
def test_layering_check_fails_on_a_backwards_import(
    tmp_path: Path, module: str, backwards_import: str, broken_contract: str
) -> None:
    """The check is not vacuous: one import added against the arrows breaks the build."""
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src / "gemfiles", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = src / "gemfiles" / module
    target.write_text(target.read_text() + f"\n{backwards_import}  # noqa: E402\n")
    result = lint_imports(tmp_path / "pyproject.toml", src)
    assert result.returncode != 0
    assert _verdict(result.stdout, broken_contract) == "BROKEN", result.stdout


def test_layering_check_fails_on_a_module_cycle(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src / "gemfiles", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = src / "gemfiles" / "domain" / "clock.py"
    target.write_text(target.read_text() + "\nimport gemfiles.domain.files  # noqa: E402\n")
    result = lint_imports(tmp_path / "pyproject.toml", src)
    assert result.returncode != 0
    assert _verdict(result.stdout, "No import cycles") == "BROKEN", result.stdout


def _verdict(report: str, contract: str) -> str:
    """KEPT or BROKEN, from the summary line lint-imports prints for the contract named ``contract...``."""
    for line in report.splitlines():
        if line.startswith(contract) and line.rstrip().endswith(("KEPT", "BROKEN")):
            return line.rsplit(maxsplit=1)[-1]
    raise AssertionError(f"no verdict for {contract!r} in:\n{report}")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_no_module_is_over_about_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these by noun: {long}"


def test_no_domain_function_is_over_60_lines() -> None:
    long: dict[str, int] = {}
    for path in sorted((PACKAGE / "domain").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_DOMAIN_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = length
    assert not long, f"split these: {long}"
