"""Reviewed reference outputs of AlexNet and ResNet-18 on the shipped accelerators.

Regenerate with ``python -m tests.golden.regen`` and review the diff when the model
changes on purpose. Floats are compared to 1e-9 relative (summation order only).
"""

from __future__ import annotations

import json

import pytest

from .golden.regen import CASES, HERE, golden


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9), path
    else:
        assert a == b, path


@pytest.mark.parametrize("model, hw", CASES)
def test_golden(model, hw):
    expected = json.loads((HERE / f"{model}_{hw}.json").read_text())
    _close(golden(model, hw), expected)
