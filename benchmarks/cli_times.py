"""Wall times of the README's commands, each in a fresh process (imports included), as a
new user meets them: the quickstart from nothing (empty run and cache folders: the
float baseline is trained, 30 trials run, figures drawn) and again with nothing to do,
`sedse pareto` on the unchanged study, `sedse models`, and `sedse eval` of a shipped
network. The README's set-up and usage times come from this.

    python benchmarks/cli_times.py [--skip-scratch]
"""

from __future__ import annotations

import argparse
import os
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
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sedse_times_") as tmp:
        tmp = Path(tmp)
        quick = ["run", "quickstart", "--pareto", "--runs-dir", str(tmp / "runs"),
                 "--cache-dir", str(tmp / "cache")]
        if not args.skip_scratch:
            rows.append(("sedse run quickstart --pareto, from nothing", timed(quick, tmp)))
            rows.append(("the same again (nothing to do)", timed(quick, tmp)))
            rows.append(("sedse pareto on the unchanged study",
                         timed(["pareto", str(tmp / "runs" / "quickstart")], tmp)))
        rows.append(("sedse models", timed(["models"], tmp)))
        rows.append(("sedse eval --model lenet5 --hw eyeriss",
                     timed(["eval", "--model", "lenet5", "--hw", "eyeriss"], tmp)))
        rows.append(("sedse eval --model resnet18 --hw eyeriss",
                     timed(["eval", "--model", "resnet18", "--hw", "eyeriss"], tmp)))
    print(f"{'command (fresh process, 2 cores)':52s} {'seconds':>8s}")
    for what, s in rows:
        print(f"{what:52s} {s:8.1f}")


if __name__ == "__main__":
    main()
