"""A normal (non-editable) install: the wheel carries the shipped designs and studies,
and shipped names resolve from any directory, in the CLI and in the Python API.

The wheel is built from a copy of the sources (nothing is written into the checkout)
and installed without dependencies into a fresh virtual environment, which borrows
this environment's third-party packages through a path entry (its sedse is the wheel's:
a path entry does not run the editable install's hook)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

SOURCES = ("sedse", "models", "hw_configs", "studies", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(p, src / name)
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(src)], check=True,
                   capture_output=True)
    (wheel,) = wheels.glob("sedse-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True,
                          text=True).stdout.strip()
    Path(site, "zz_sedse_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    empty = base / "empty"
    empty.mkdir()
    return wheel, venv, empty


def test_wheel_ships_the_designs_and_studies(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("eyeriss", "smartexchange", "diannao", "systolic_ws_32x32"):
        assert f"sedse/shipped/hw_configs/{f}.yaml" in names
    assert "sedse/shipped/hw_configs/tech/65nm.yaml" in names
    assert "sedse/shipped/studies/quickstart.yaml" in names


def test_the_wheel_holds_every_package_of_the_checkout(installed):
    """Every package under sedse/ is in the wheel (the package list is explicit in
    pyproject.toml, so a new package must be added there) and imports from it."""
    wheel, venv, empty = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    pkgs = sorted("sedse." + p.parent.relative_to(ROOT / "sedse").as_posix().replace("/", ".")
                  for p in (ROOT / "sedse").rglob("__init__.py") if p.parent != ROOT / "sedse")
    for pkg in pkgs:
        assert pkg.replace(".", "/") + "/__init__.py" in names, pkg
    code = "import importlib\n" + "".join(f"importlib.import_module({p!r})\n" for p in pkgs)
    subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=empty, check=True)


def test_names_resolve_from_an_empty_directory(installed):
    _, venv, empty = installed
    code = ("import sedse, sedse_models\n"
            "from sedse.hardware import load_accelerator\n"
            "from sedse.study import load_study\n"
            "print(sedse.__file__)\n"
            "print(load_accelerator('eyeriss').name)\n"
            "s = load_study('quickstart')\n"
            "print(s.name, s.accelerator.endswith('hw_configs/smartexchange.yaml'))\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=empty, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith(str(venv)), "the wheel's sedse, not the checkout's"
    assert out[1:] == ["eyeriss", "quickstart True"]


def test_eval_runs_from_an_empty_directory(installed):
    _, venv, empty = installed
    r = subprocess.run([str(venv / "bin" / "sedse"), "eval", "--model", "resnet18", "--hw",
                        "eyeriss"], cwd=empty, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    total = next(line for line in r.stdout.splitlines() if line.startswith("TOTAL"))
    here = subprocess.run([sys.executable, "-m", "sedse", "eval", "--model", "resnet18",
                           "--hw", "eyeriss"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    assert total in here.splitlines(), "the same numbers as the checkout's"
    assert list(empty.iterdir()) == []          # nothing written there
