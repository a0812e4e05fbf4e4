"""Wall times of the README's commands, each in a fresh process (imports included), as a
new user meets them: the quickstart from nothing (empty run and cache folders: the
float baseline is trained, 30 trials run, figures drawn) and again with nothing to do,
`sedse pareto` on the unchanged study, `sedse models`, and `sedse eval` of a shipped
network. The README's set-up and usage times come from this.

    python benchmarks/cli_times.py [--skip-scratch] [--repeats N]

Every command but the first is run `--repeats` times (fresh processes each time) and
reported as the median with the fastest and slowest run: on a shared 2-core machine
single runs of a one-second command vary by 20-30%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sedse", "--quiet", *argv], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "MPLBACKEND": "Agg"})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-scratch", action="store_true",
                    help="skip the quickstart from nothing (minutes)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="runs of each repeatable command (default 5)")
    args = ap.parse_args()
    rows = []

    def rep(argv: list[str], cwd: Path) -> list[float]:
        return [timed(argv, cwd) for _ in range(args.repeats)]

    with tempfile.TemporaryDirectory(prefix="sedse_times_") as tmp:
        tmp = Path(tmp)
        quick = ["run", "quickstart", "--pareto", "--runs-dir", str(tmp / "runs"),
                 "--cache-dir", str(tmp / "cache")]
        if not args.skip_scratch:
            rows.append(("sedse run quickstart --pareto, from nothing", [timed(quick, tmp)]))
            rows.append(("the same again (nothing to do)", rep(quick, tmp)))
            rows.append(("sedse pareto on the unchanged study",
                         rep(["pareto", str(tmp / "runs" / "quickstart")], tmp)))
        rows.append(("sedse models", rep(["models"], tmp)))
        rows.append(("sedse eval --model lenet5 --hw eyeriss",
                     rep(["eval", "--model", "lenet5", "--hw", "eyeriss"], tmp)))
        rows.append(("sedse eval --model resnet18 --hw eyeriss",
                     rep(["eval", "--model", "resnet18", "--hw", "eyeriss"], tmp)))
    # every process compiles sedse's sources again (about 0.2 s) when this is set
    cache = "off (PYTHONDONTWRITEBYTECODE set)" if sys.dont_write_bytecode else "on"
    print(f"Python bytecode cache: {cache}")
    print(f"{'command (fresh process, 2 cores)':52s} {'median s':>8s}  {'range':>11s}")
    for what, t in rows:
        span = f"{min(t):.2f}-{max(t):.2f}" if len(t) > 1 else "(one run)"
        print(f"{what:52s} {statistics.median(t):8.2f}  {span:>11s}")


if __name__ == "__main__":
    main()
