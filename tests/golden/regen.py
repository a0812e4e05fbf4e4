"""Regenerate the golden cost outputs: python -m tests.golden.regen

Review the diff (git diff tests/golden) before committing: a change here is a change
of the model's numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import sedse_models
from sedse.cost import evaluate_workload
from sedse.hardware import load_accelerator

HERE = Path(__file__).resolve().parent
HW = HERE.parents[1] / "hw_configs"
CASES = [(m, h) for m in ("alexnet", "resnet18") for h in ("eyeriss", "diannao")]


def golden(model: str, hw: str) -> dict:
    acc = load_accelerator(HW / f"{hw}.yaml")
    wl = sedse_models.workload(model, 1)
    d = evaluate_workload(wl, acc).to_dict()
    d.pop("rows")
    for layer in d["layers"]:
        layer.pop("mapping_source")
    return d


def main() -> None:
    for model, hw in CASES:
        path = HERE / f"{model}_{hw}.json"
        path.write_text(json.dumps(golden(model, hw), indent=1, sort_keys=True) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main()
