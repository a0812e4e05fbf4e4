"""The shipped models' traced layer lists (`models/workloads/*.yaml`) equal a fresh
trace of their torch modules, and reading them needs no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sedse_models


@pytest.mark.parametrize("name", list(sedse_models.MODELS))
def test_traced_file_equals_a_fresh_trace(name):
    assert sedse_models.workload(name) == sedse_models.trace(name), \
        f"models/workloads/{name}.yaml is stale: run python -m sedse_models"


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "lenet5"])
def test_batch_and_precision_equal_tracing_with_them(name):
    assert sedse_models.workload(name, 4, input_bits=8, weight_bits=8, output_bits=8) == \
        sedse_models.trace(name, 4, input_bits=8, weight_bits=8, output_bits=8)


def test_reading_a_workload_does_not_import_torch():
    code = ("import sys, sedse_models\n"
            "wl = sedse_models.workload('resnet18')\n"
            "from sedse.cli import main\n"
            "print(len(wl.layers), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["21", "False"]
