"""The bad-input corpus: every malformed or inconsistent file in tests/bad_inputs/ through
every CLI entry point that reads its kind, each a one-line error with the expected
message, exit status 2 and no traceback. Expected messages are in each file's first
line (`# expect: ...`) or, for compressed-model directories, in their EXPECT file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sedse.cli import main

from .conftest import HW, ROOT

CORPUS = Path(__file__).parent / "bad_inputs"
EYERISS = str(HW / "eyeriss.yaml")
STUDY = str(ROOT / "studies" / "quickstart.yaml")


def _expect(path: Path) -> str:
    if path.is_dir():
        return (path / "EXPECT").read_text().strip()
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


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


CASES = [(kind.name, p) for kind in sorted(CORPUS.iterdir()) if kind.is_dir()
         for p in sorted(kind.iterdir())]


def test_the_corpus_is_large():
    assert len(CASES) >= 50
    assert {k for k, _ in CASES} == {"accelerators", "workloads", "mappings", "studies",
                                     "compressed", "stats"}


@pytest.mark.parametrize("kind, path", CASES, ids=[f"{k}/{p.stem}" for k, p in CASES])
def test_bad_input(kind, path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expect = _expect(path)
    for cmd in _commands(kind, str(path), str(tmp_path / "out")):
        rc = main(cmd)
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert rc == 2, (cmd, captured.out[-500:], err)
        assert len(err.splitlines()) == 1, (cmd, err)
        assert err.startswith("sedse: error: ") and "Traceback" not in err, (cmd, err)
        assert expect in err, (cmd, err)


STORAGES = [
    ("notadb://somewhere", "--storage: cannot open 'notadb://somewhere'"),
    ("sqlite:////no/such/folder/study.db", "--storage: cannot open 'sqlite:////no/such/folder"),
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
