"""The type checker is clean on sedse/ (issue #15: a type checker in CI).

CI runs pytest, so this test is how CI runs mypy: ``python -m mypy`` from the repository
root, configured by ``[tool.mypy]`` in pyproject.toml (``files = ["sedse"]``). mypy is
pinned in the ``test`` extra (a new release checks differently); when it is missing the
test fails rather than skips, so a CI set-up without it cannot pass unchecked.
"""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

TIMEOUT_S = 600   # a cold run (no .mypy_cache) takes about half a minute


def test_mypy_clean():
    try:
        run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                             text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"mypy did not finish within {TIMEOUT_S} s") from exc
    output = run.stdout + run.stderr
    assert "No module named mypy" not in output, \
        "mypy is not installed: pip install -c constraints.txt -e '.[test]'"
    assert run.returncode == 0, f"mypy failed (exit status {run.returncode}):\n{output}"
