"""The bench is not run by `make test`, so an import it lost would only show on the next `make bench`."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules([str(BENCH)])))
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
