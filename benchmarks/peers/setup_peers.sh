#!/usr/bin/env bash
# Create (idempotently) the virtual environments for the two peer tools used
# by the cross-checks in benchmarks/peers/:
#   SCALE-Sim 3.0.0  -> runs/peers/scalesim
#   ZigZag    3.9.1  -> runs/peers/zigzag
# Each venv is created with `python3 -m venv` only if missing; the pinned
# packages are (re)installed with pip every time (a no-op when satisfied).
# Usage: bash benchmarks/peers/setup_peers.sh [ROOT]   (ROOT defaults to the repo root)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${1:-$(cd "$HERE/../.." && pwd)}"
PY="${PYTHON:-python3}"
VENVS="$ROOT/runs/peers"
mkdir -p "$VENVS"

make_venv() {  # $1 = name, rest = pip requirement specs
    local name="$1"; shift
    local dir="$VENVS/$name"
    if [ ! -x "$dir/bin/python" ]; then
        "$PY" -m venv "$dir"
        "$dir/bin/python" -m pip install --quiet --upgrade pip
    fi
    "$dir/bin/python" -m pip install --quiet "$@"
}

make_venv scalesim "scalesim==3.0.0" "numpy<2.4"
make_venv zigzag "zigzag-dse==3.9.1" "six"

echo "scalesim python: $VENVS/scalesim/bin/python"
echo "zigzag python:   $VENVS/zigzag/bin/python"
