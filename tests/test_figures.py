"""A study's figures through their data objects (`sedse.report`): what each
figure shows is checked on the info object, and each still draws."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from sedse.report import (
    MIN_IMPORTANCE_TRIALS,
    fmt_energy_uj,
    importance_info,
    layer_breakdown_info,
    pareto_info,
    plot_importances,
    plot_layer_breakdown,
    plot_pareto,
    results_table,
    spread_picks,
)

# (accuracy, energy uJ): seven on the front (accuracy up with energy), two dominated
POINTS = [(0.80, 100.0), (0.84, 150.0), (0.86, 210.0), (0.88, 400.0), (0.90, 900.0),
          (0.91, 2500.0), (0.92, 6210.0), (0.70, 3000.0), (0.85, 5000.0)]


def _study():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, e in POINTS:
        layers = {"conv1": {"dram": e * 0.6, "mac": e * 0.1},
                  "fc": {"dram": e * 0.2, "global_buffer": e * 0.1}}
        study.add_trial(optuna.trial.create_trial(
            values=[acc, e], user_attrs={"feasible": True, "accuracy_frac": acc,
                                         "energy_uj": e, "layer_energy_uj": layers}))
    return study


def test_pareto_info_holds_the_front_and_the_baselines(tmp_path):
    study = _study()
    df = results_table(study, ["accuracy", "energy"])
    base = pd.DataFrame([{"design": "eyeriss", "accuracy_frac": 0.92, "energy_uj": 800.0},
                         {"design": "diannao", "accuracy_frac": 0.92, "energy_uj": 820.0}])
    info = pareto_info(df, base, ["accuracy", "energy"], "t")
    assert (info.n_completed, info.n_feasible, info.n_front) == (9, 9, 7)
    (p,) = info.panels
    assert (p.x, p.y, p.front_is_curve) == ("energy", "accuracy", True)
    assert [t for t, _, _ in p.front] == [0, 1, 2, 3, 4, 5, 6]     # sorted by energy
    assert [x for _, x, _ in p.front] == sorted(x for _, x, _ in p.front)
    assert len(p.feasible) == 9 and p.violating == ()
    assert [b[0] for b in p.baselines] == ["eyeriss", "diannao"]
    assert p.log_x                    # 100 .. 6,210 uJ spans more than 20x
    assert plot_pareto(info, tmp_path / "p.png").stat().st_size > 0


def test_layer_breakdown_spreads_along_the_front_with_both_ends(tmp_path):
    """Seven Pareto points: the figure shows four, the least and the most accurate
    among them (it once kept the first four and dropped the three most accurate)."""
    study = _study()
    df = results_table(study, ["accuracy", "energy"])
    front = list(df[df.is_pareto].sort_values("accuracy_frac").trial)
    info = layer_breakdown_info(study, front, "t")
    assert [b.trial for b in info.bars] == [0, 2, 4, 6]
    assert info.bars[-1].trial == 6 and info.n_front == 7
    assert "4 of the 7 Pareto points" in info.title and "both ends" in info.title
    assert info.bars[-1].title == "trial #6: 6.21 mJ, accuracy 0.9200"
    b = info.bars[0]
    assert b.layers == ("conv1", "fc")
    assert dict(b.energy_uj)["dram"] == pytest.approx((60.0, 20.0))
    assert "register_file" not in dict(b.energy_uj)     # categories with energy only
    assert plot_layer_breakdown(info, tmp_path / "l.png").stat().st_size > 0
    small = layer_breakdown_info(study, front[:3], "t")
    assert [b.trial for b in small.bars] == front[:3] and "all 3" in small.title


def test_spread_picks():
    assert spread_picks(7) == [0, 2, 4, 6]
    assert spread_picks(3) == [0, 1, 2]
    assert spread_picks(10) == [0, 3, 6, 9]
    assert spread_picks(5, 4)[0] == 0 and spread_picks(5, 4)[-1] == 4


def test_importances_warn_below_the_minimum_and_label_the_axis(tmp_path):
    imp = pd.DataFrame([{"objective": "energy", "param": "theta", "importance": 0.7},
                        {"objective": "energy", "param": "rows", "importance": 0.3}])
    few = importance_info(imp, 8, "t")
    assert few.warning.startswith("only 8 feasible trials")
    assert "share of variance" in few.x_label
    assert few.per_objective == (("energy", (("rows", 0.3), ("theta", 0.7))),)
    assert importance_info(imp, MIN_IMPORTANCE_TRIALS, "t").warning == ""
    assert plot_importances(few, tmp_path / "i.png").stat().st_size > 0


def test_energy_format():
    assert fmt_energy_uj(6210.0) == "6.21 mJ"
    assert fmt_energy_uj(845.0) == "845 uJ"
    assert fmt_energy_uj(1.2e6) == "1.2 J"
    assert fmt_energy_uj(0.5) == "500 nJ"
