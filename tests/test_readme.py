"""The README's co-design commands, run as written: create a study, continue it, write
the figures, export a point, re-evaluate it and compare it. The only substitutions:
the shipped quickstart is shortened (13 trials, 1 float epoch; a copy in a temporary
folder), `--n-trials 60` becomes 14 and `--trial 12` becomes a feasible trial of this
run. The re-evaluation gives the stored numbers exactly, for that trial and for five
feasible trials exported and re-evaluated through the same two lines."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd

from sedse.cli import main

from .conftest import ROOT
from .test_study import needs_fmnist


def _block(heading: str) -> list[str]:
    """The `sedse ...` lines of the first indented code block after `heading`."""
    text = (ROOT / "README.md").read_text()
    after = text[text.index(heading):]
    lines = []
    for line in after.splitlines()[1:]:
        if line.startswith("    sedse "):
            lines.append(line.strip().split("  #")[0].strip())
        elif lines and not line.startswith("    "):
            break
    return lines


@needs_fmnist
def test_readme_study_commands_run_as_written(tmp_path, monkeypatch, capsys):
    lines = _block("### Co-design studies (Optuna)")
    assert [ln.split()[1] for ln in lines] == ["run", "run", "pareto", "export", "eval",
                                               "compare"]
    (tmp_path / "studies").mkdir()
    (tmp_path / "hw_configs").symlink_to(ROOT / "hw_configs")
    spec = (ROOT / "studies" / "quickstart.yaml").read_text()
    spec = spec.replace("n_trials: 30", "n_trials: 13").replace("float_epochs: 5",
                                                                 "float_epochs: 1")
    (tmp_path / "studies" / "quickstart.yaml").write_text(spec)
    monkeypatch.chdir(tmp_path)
    trial = None
    for line in lines:
        line = line.replace("--n-trials 60", "--n-trials 14")
        if " export " in line:
            df = pd.read_csv(Path("runs/quickstart/results.csv"))
            trial = int(df[df.is_pareto].trial.iloc[0])
            line = re.sub(r"--trial \d+", f"--trial {trial}", line)
        argv = shlex.split(line)
        assert main(argv[1:]) == 0, line
        out = capsys.readouterr().out
        if argv[1] == "eval":
            assert "the exported trial's" in out
            assert main([*argv[1:], "--json", "replay.json"]) == 0
    capsys.readouterr()
    stored = json.loads(Path("chosen/trial.json").read_text())["values"]
    doc = json.loads(Path("replay.json").read_text())
    assert doc["reports"][0]["totals"]["energy_uj"] == stored["energy_uj"]
    assert doc["reports"][0]["totals"]["latency_ms"] == stored["latency_ms"]
    assert doc["accuracy_frac"] == stored["accuracy_frac"]
    table = pd.read_csv("runs/compare/lenet5/compare.csv")
    assert abs(table.energy_uj.iloc[0] / stored["energy_uj"] - 1) < 1e-12
    # five quickstart trials through the same export and eval lines: bit for bit
    export = next(ln for ln in lines if " export " in ln)
    replay = next(ln for ln in lines if " eval " in ln)
    df = pd.read_csv(Path("runs/quickstart/results.csv"))
    for n in df[df.feasible].trial.astype(int).tolist()[:5]:
        out = f"point{n}"
        exp = re.sub(r"--trial \d+", f"--trial {n}", export).replace("chosen/", f"{out}/")
        assert main(shlex.split(exp)[1:]) == 0
        assert main([*shlex.split(replay.replace("chosen/", f"{out}/"))[1:], "--json",
                     f"{out}.json"]) == 0
        stored = json.loads(Path(f"{out}/trial.json").read_text())["values"]
        doc = json.loads(Path(f"{out}.json").read_text())
        assert doc["reports"][0]["totals"]["energy_uj"] == stored["energy_uj"]
        assert doc["reports"][0]["totals"]["latency_ms"] == stored["latency_ms"]
        assert doc["accuracy_frac"] == stored["accuracy_frac"]
    capsys.readouterr()


def _all_sedse_lines() -> list[str]:
    """Every `sedse ...` command in the README's indented code blocks (split at &&)."""
    out = []
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("    sedse ") or " && sedse " in line and line.startswith("    "):
            for part in line.strip().split("  #")[0].split("&&"):
                part = part.strip()
                if part.startswith("sedse "):
                    out.append(part)
    return out


#: commands of the "Using it" block cheap enough to run here as written (the others are
#: checked for flags and files; the studies' commands run in the test above)
RUN_AS_WRITTEN = ("sedse models", "sedse eval --model examples/my_layers.yaml",
                  "sedse eval --model alexnet --hw eyeriss --mapping")


def test_every_readme_command_parses_and_names_existing_files(tmp_path, monkeypatch):
    """Every sedse command in the README parses (its subcommand and flags exist), and
    every shipped file it names exists; the cheap ones of "Using it" run as written."""
    from sedse._shipped import design_path, study_path
    from sedse.cli import build_parser

    lines = _all_sedse_lines()
    assert len(lines) >= 15
    parser = build_parser()
    for line in lines:
        argv = shlex.split(line)[1:]
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            raise AssertionError(f"README command does not parse: {line}") from None
        for a in argv:
            if a.startswith(("examples/", "hw_configs/", "studies/")):
                assert (ROOT / a).exists(), f"{line}: {a} is not shipped"
        for h in getattr(args, "hw", None) or []:
            for name in h.split(","):
                if not name.startswith(("chosen/", "runs/")):
                    assert design_path(name) or (ROOT / name).is_file(), (line, name)
        if argv[0] == "run":
            assert study_path(argv[1]) or (ROOT / argv[1]).is_file(), line
    using = _block("## Using it")
    ran = 0
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for line in using:
        if line.startswith(RUN_AS_WRITTEN):
            assert main(shlex.split(line)[1:]) == 0, line
            ran += 1
    assert ran == len(RUN_AS_WRITTEN)
    assert Path("out.json").is_file() and Path("rows.csv").is_file()


def test_example_layer_list_names_every_loader_key():
    """examples/my_layers.yaml's comment lists every key the workload loader takes."""
    from sedse.workload._io import _ENC_FIELDS, _FRAC_FIELDS, _INT_FIELDS  # noqa: F401

    text = (ROOT / "examples" / "my_layers.yaml").read_text()
    comment = " ".join(ln for ln in text.splitlines() if ln.startswith("#"))
    keys = _INT_FIELDS | _FRAC_FIELDS | {"name", "kind", "weight_is_activation",
                                         "weight_encoding"}
    missing = sorted(k for k in keys if not re.search(rf"\b{k}\b", comment))
    assert not missing, f"examples/my_layers.yaml does not document {missing}"
