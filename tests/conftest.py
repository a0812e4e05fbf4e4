from __future__ import annotations

from pathlib import Path

import pytest

from sedse.cost import keep_heap_pages

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "hw_configs"

# the test process is the program here: it keeps heap pages as the CLI does (a
# process-wide switch the library never flips, sedse/cost/_alloc.py)
keep_heap_pages()


@pytest.fixture
def write(tmp_path):
    """Write text to a file in tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return _write


@pytest.fixture(scope="session")
def float_cache(tmp_path_factory):
    """One project cache for the whole test session: float baselines are trained once
    (per thread count) instead of once per test."""
    return tmp_path_factory.mktemp("sedse-cache")
