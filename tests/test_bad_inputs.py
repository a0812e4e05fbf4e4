"""The bad-input corpus: every malformed or inconsistent file in tests/bad_inputs/ through
every CLI entry point that reads its kind, each a one-line error with the expected
message, naming the file, exit status 2, no traceback, nothing written and well under
10 s. Expected messages are in each file's first line (`# expect: ...`; optional
`# names: PATH` when the message names another file than the case, e.g. the bad
technology file a study points at, and `# xfail: REASON` for a known bug) or, for
compressed-model directories, in their EXPECT file (first line; then optional
`names:` / `xfail:` lines). `bad_inputs/generate.py` writes the `g_*` cases;
`bad_inputs/_support/` holds what cases point at (not cases themselves)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import sedse.compare  # noqa: F401  (imported up front: the timing is the cases' own)
import sedse.study  # noqa: F401
from sedse.cli import main

from .conftest import HW, ROOT

CORPUS = Path(__file__).parent / "bad_inputs"
EYERISS = str(HW / "eyeriss.yaml")
STUDY = str(ROOT / "studies" / "quickstart.yaml")
KINDS = ("accelerators", "workloads", "mappings", "studies", "compressed", "stats")
MAX_CASE_S = 10.0


def _header(path: Path) -> dict[str, str]:
    """{'expect': ..., 'names': ..., 'xfail': ...} from the case's header lines (read as
    bytes: some cases are deliberately not UTF-8 after their header)."""
    if path.is_dir():
        lines = (path / "EXPECT").read_text().splitlines()
        out = {"expect": lines[0].strip()}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.strip() in ("names", "xfail"):
                out[key.strip()] = value.strip()
        return out
    out = {}
    for raw in path.read_bytes().splitlines()[:4]:
        line = raw.decode("ascii", errors="replace")
        for key in ("expect", "names", "xfail"):
            if line.startswith(f"# {key}: "):
                out[key] = line.removeprefix(f"# {key}: ")
    assert "expect" in out, f"{path}: no '# expect: ' line"
    return out


def _commands(kind: str, f: str, tmp: str) -> list[list[str]]:
    return {
        "accelerators": [["eval", "--model", "lenet5", "--hw", f],
                         ["compare", "--model", "lenet5", "--hw", f, "--dense"]],
        "workloads": [["eval", "--model", f, "--hw", EYERISS],
                      ["compare", "--model", f, "--hw", "eyeriss", "--dense"]],
        "mappings": [["eval", "--model", "alexnet", "--hw", EYERISS, "--mapping", f,
                      "--budget", "50"]],
        "studies": [["run", f, "--runs-dir", tmp], ["pareto", f],
                    ["export", f, "--trial", "0", "--out", tmp]],
        "compressed": [["eval", "--model", "lenet5", "--hw", EYERISS, "--compressed", f],
                       ["compare", "--model", "lenet5", "--hw", "eyeriss", "--compressed", f]],
        "stats": [["compare", "--model", "lenet5", "--hw", "eyeriss", "--stats", f]],
    }[kind]


def _snapshot(path: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of a file or of everything under a folder."""
    items = [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]
    return [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in items]


CASES = [(kind, p) for kind in KINDS for p in sorted((CORPUS / kind).iterdir())]


def _param(kind: str, p: Path):
    why = _header(p).get("xfail")
    marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
    return pytest.param(kind, p, marks=marks, id=f"{kind}/{p.stem}")


def test_the_corpus_is_large():
    assert len(CASES) >= 200
    assert {k for k, _ in CASES} == set(KINDS)
    extra = {p.name for p in CORPUS.iterdir() if p.is_dir()} - set(KINDS) - {"_support"}
    assert not extra, f"folders of no known kind in {CORPUS}: {extra}"


def test_the_support_compressed_directory_is_valid():
    """The base the generated compressed cases mutate is accepted as it is, so each case
    fails for its own defect."""
    import sedse_models
    from sedse.compress._io import load_compressed

    wl = sedse_models.workload("lenet5", 1)
    _, enc = load_compressed(CORPUS / "_support" / "valid_compressed", wl, model="lenet5")
    assert set(enc) == {layer.name for layer in wl.layers}


@pytest.mark.parametrize("kind, path", [_param(k, p) for k, p in CASES])
def test_bad_input(kind, path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    head = _header(path)
    names = str((CORPUS / head["names"]).resolve()) if "names" in head else str(path)
    before = _snapshot(path)
    start = time.monotonic()
    for cmd in _commands(kind, str(path), str(tmp_path / "out")):
        rc = main(cmd)
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert rc == 2, (cmd, captured.out[-500:], err)
        assert len(err.splitlines()) == 1, (cmd, err)
        assert err.startswith("sedse: error: ") and "Traceback" not in err, (cmd, err)
        assert head["expect"] in err, (cmd, err)
        assert names in err, (cmd, f"the message does not name {names}", err)
        assert list(tmp_path.iterdir()) == [], (cmd, "wrote", list(tmp_path.rglob("*")))
    assert _snapshot(path) == before, "the case itself was changed"
    assert time.monotonic() - start < MAX_CASE_S


STORAGES = [
    ("notadb://somewhere", "--storage: cannot open 'notadb://somewhere'"),
    ("sqlite:////no/such/folder/study.db", "/no/such/folder/study.db"),
    ("postgresql+psycopg2://nobody:pw@127.0.0.1:1/none",
     "--storage: cannot open 'postgresql+psycopg2://nobody:pw@127.0.0.1:1/none'"),
    ("mysql+nosuchdriver://u@h/db", "--storage: cannot open 'mysql+nosuchdriver://u@h/db'"),
]


@pytest.mark.parametrize("url, expect", STORAGES, ids=[u.split(":")[0] for u, _ in STORAGES])
def test_bad_storage_urls(url, expect, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cmd in (["run", STUDY, "--storage", url, "--runs-dir", str(tmp_path)],
                ["worker", "--storage", url, "--study", "quickstart"],
                ["pareto", STUDY, "--storage", url],
                ["export", STUDY, "--trial", "0", "--out", str(tmp_path / "x"),
                 "--storage", url]):
        rc = main(cmd)
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and expect in err, (cmd, err)
        assert list(tmp_path.iterdir()) == [], (cmd, "wrote", list(tmp_path.rglob("*")))
