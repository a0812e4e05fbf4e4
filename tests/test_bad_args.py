"""Bad command lines and hostile inputs through every `sedse` subcommand: each is exit
status 2 with exactly one `sedse: error: ` line on stderr that names the flag (or the
file and key), no traceback, and nothing written anywhere (the temporary tree the
command sees is unchanged, the named output paths do not appear).

Also here: a malicious CIFAR-10 pickle (its `__reduce__` would create a file) through
`sedse compress` and a study through `sedse run`; names that would escape their folder
(a workload's `name: ../../../../X` or an absolute path, a study's `name: ..`); the
export of a trial copying only from its run's own cache; a gzip decompression bomb in a
Fashion-MNIST folder. `sedse compress` cases all fail before any training."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from sedse.cli import main
from sedse.errors import SpecError

from .conftest import HW, ROOT

CORPUS = Path(__file__).parent / "bad_inputs"
EYERISS = str(HW / "eyeriss.yaml")
STUDY = str(ROOT / "studies" / "quickstart.yaml")
QUICK = yaml.safe_load((ROOT / "studies" / "quickstart.yaml").read_text())
QUICK["accelerator"] = str(HW / "smartexchange.yaml")
QUICK["technology"] = str(HW / "tech" / "65nm.yaml")
BIG = "1" + "0" * 400          # an integer beyond the float range


class _Evil:
    """Unpickling this runs `touch <path>` (what a malicious CIFAR batch would do)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def _inputs(tmp: Path) -> Path:
    """The input tree every case may name ({in}/...); returns it."""
    d = tmp / "in"
    (d / "folder").mkdir(parents=True)
    (d / "folder" / "keep.txt").write_text("a folder that is not empty\n")
    (d / "empty").mkdir()
    (d / "existing.txt").write_text("an existing file\n")
    (d / "ok.yaml").write_text("name: ok\nlayers:\n  - {name: fc, kind: fc, K: 10, C: 20}\n")
    (d / "big.yaml").write_text("name: big\nlayers:\n  - {name: fc, kind: fc, K: 16384, "
                                "C: 16384}\n")
    (d / ".hidden.yaml").write_text("layers:\n  - {name: fc, kind: fc, K: 10, C: 20}\n")
    (d / "escape.yaml").write_text("name: ../../../../X\nlayers:\n  - {name: fc, kind: fc, "
                                   "K: 10, C: 20}\n")
    (d / "absolute.yaml").write_text(f"name: {tmp / 'ABS'}\nlayers:\n  - {{name: fc, kind: "
                                     "fc, K: 10, C: 20}\n")
    (d / "stats.yaml").write_text("layers:\n  features.3: {input_zero_frac: 0.3}\n")
    evil = d / "evil_cifar"
    evil.mkdir()
    (evil / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(tmp / "PWNED"),
                                                      b"labels": [1]}))
    garbage = d / "garbage_cifar"
    garbage.mkdir()
    (garbage / "data_batch_1").write_bytes(b"\x80\x04garbage" * 20)
    floats = d / "float_cifar"
    floats.mkdir()
    (floats / "data_batch_1").write_bytes(pickle.dumps(
        {b"data": np.full((2, 3072), np.nan), b"labels": [1, 2]}))
    images = d / "images" / "train" / "cat"
    images.mkdir(parents=True)
    (images / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (d / "images" / "test" / "cat").mkdir(parents=True)
    fm = d / "fmnist_truncated"
    fm.mkdir()
    with gzip.open(fm / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 10, 28, 28) + bytes(100))
    for name, text in (("garbage_run", "not json {"), ("list_run", "[1, 2]"),
                       ("nan_run", '{"spec_file": NaN, "storage": "x"}'),
                       ("extra_run", json.dumps({"spec_file": STUDY, "storage": "x", "y": 1})),
                       ("missing_spec_run", json.dumps({"spec_file": str(d / "no.yaml"),
                                                        "storage": "sqlite:///x.db"})),
                       ("bad_spec_run", json.dumps({"spec_file": str(
                           CORPUS / "studies" / "g_name_dot_dot.yaml"), "storage": "x"}))):
        (d / name).mkdir()
        (d / name / "study.json").write_text(text)
    (d / "dotdot.yaml").write_text(yaml.safe_dump({**QUICK, "name": ".."}))
    (d / "mismatch.yaml").write_text(yaml.safe_dump({**QUICK, "dataset": "digits"}))
    (d / "no_data.yaml").write_text(yaml.safe_dump(
        {**QUICK, "model": "resnet20", "dataset": "cifar10", "data_root": str(d / "empty")}))
    (d / "evil_study.yaml").write_text(yaml.safe_dump(
        {**QUICK, "name": "evil", "model": "resnet20", "dataset": "cifar10",
         "data_root": str(evil)}))
    return d


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def _call(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = main(args)
    except SystemExit as exc:   # argparse errors exit from inside parse_args
        rc = exc.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err.strip()


def _fill(args: list[str], tmp: Path) -> list[str]:
    subs = {"{in}": str(tmp / "in"), "{cwd}": str(tmp / "cwd"), "{hw}": str(HW),
            "{study}": STUDY, "{corpus}": str(CORPUS), "{tmp}": str(tmp)}
    out = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        out.append(a)
    return out


# (id, argv, expected substring of the one error line, [paths that must not appear])
CASES: list = [
    # ---- eval
    ("eval-batch-0", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch", "0"],
     "argument --batch: expected an integer in [1, 16777216], found 0"),
    ("eval-batch-2^40", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch",
                         str(2**40)],
     "argument --batch: expected an integer in [1, 16777216], found 1099511627776"),
    ("eval-batch-10^30", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch",
                          str(10**30)], "argument --batch: expected an integer in [1, "
     "16777216], found 1e+30"),
    ("eval-batch-beyond-float", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch", BIG],
     "argument --batch: expected an integer in [1, 16777216]"),
    ("eval-batch-5000-digits", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch",
                                "9" * 5000], "argument --batch: expected an integer, found "),
    ("eval-batch-word", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch", "two"],
     "argument --batch: expected an integer, found 'two'"),
    ("eval-batch-fraction", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch", "1.5"],
     "argument --batch: expected an integer, found '1.5'"),
    ("eval-batch-hex-huge", ["eval", "--model", "lenet5", "--hw", EYERISS, "--batch",
                             "0x10000000"], "argument --batch: expected an integer in [1, "
     "16777216], found 268435456"),
    ("eval-batch-work-bound", ["eval", "--model", "{in}/big.yaml", "--hw", EYERISS,
                               "--batch", "16777216"],
     "--batch: 16777216: layer fc: 4.5e+15 MACs"),
    ("eval-batch-shipped-work-bound", ["eval", "--model", "resnet50", "--hw", EYERISS,
                                       "--batch", "16777216"], "--batch: 16777216: layer"),
    ("eval-budget-negative", ["eval", "--model", "lenet5", "--hw", EYERISS, "--budget", "-5"],
     "argument --budget: expected an integer in [1, 10000000], found -5"),
    ("eval-budget-huge", ["eval", "--model", "lenet5", "--hw", EYERISS, "--budget",
                          "10000001"], "argument --budget: expected an integer in [1, "
     "10000000], found 10000001"),
    ("eval-objective", ["eval", "--model", "lenet5", "--hw", EYERISS, "--objective", "area"],
     "argument --objective: invalid choice: 'area'"),
    ("eval-unknown-model", ["eval", "--model", "nonet", "--hw", EYERISS],
     "--model: unknown model 'nonet'"),
    ("eval-model-file-missing", ["eval", "--model", "{in}/missing.yaml", "--hw", EYERISS],
     "{in}/missing.yaml: file not found"),
    ("eval-hw-missing", ["eval", "--model", "lenet5", "--hw", "{in}/missing.yaml"],
     "{in}/missing.yaml: file not found"),
    ("eval-hw-folder", ["eval", "--model", "lenet5", "--hw", "{in}/folder"],
     "--hw: {in}/folder: is a folder, not a design"),
    ("eval-hw-not-yaml", ["eval", "--model", "lenet5", "--hw", "{in}/existing.txt"],
     "{in}/existing.txt: <top>: expected a mapping, found the string"),
    ("eval-second-hw-bad", ["eval", "--model", "lenet5", "--hw", EYERISS, "--hw",
                            "{corpus}/accelerators/g_clock_nan.yaml", "--json",
                            "{cwd}/r.json", "--csv", "{cwd}/r.csv"],
     "g_clock_nan.yaml: clock_mhz: expected a finite number, found NaN",
     ["{cwd}/r.json", "{cwd}/r.csv"]),
    ("eval-json-missing-folder", ["eval", "--model", "lenet5", "--hw", EYERISS, "--json",
                                  "{in}/nofolder/r.json"],
     "--json: cannot write {in}/nofolder/r.json: the folder {in}/nofolder does not exist"),
    ("eval-json-directory", ["eval", "--model", "lenet5", "--hw", EYERISS, "--json",
                             "{in}/folder"], "--json: {in}/folder is a directory; give a "
     "file name"),
    ("eval-json-under-file", ["eval", "--model", "lenet5", "--hw", EYERISS, "--json",
                              "{in}/existing.txt/r.json"], "--json: cannot write "),
    ("eval-csv-missing-folder", ["eval", "--model", "lenet5", "--hw", EYERISS, "--csv",
                                 "{in}/nofolder/r.csv"],
     "--csv: cannot write {in}/nofolder/r.csv: the folder {in}/nofolder does not exist"),
    ("eval-csv-directory", ["eval", "--model", "lenet5", "--hw", EYERISS, "--csv",
                            "{in}/folder"], "--csv: {in}/folder is a directory"),
    ("eval-json-ok-csv-bad", ["eval", "--model", "lenet5", "--hw", EYERISS, "--json",
                              "{cwd}/r.json", "--csv", "{in}/nofolder/r.csv"],
     "--csv: cannot write", ["{cwd}/r.json"]),
    ("eval-mapping-missing", ["eval", "--model", "lenet5", "--hw", EYERISS, "--mapping",
                              "{in}/missing.yaml"], "{in}/missing.yaml: file not found"),
    ("eval-mapping-wrong-model", ["eval", "--model", "lenet5", "--hw", EYERISS, "--mapping",
                                  str(ROOT / "examples" / "alexnet_conv3_eyeriss.yaml")],
     "features.8: no layer named 'features.8' in lenet5"),
    ("eval-compressed-not-a-dir", ["eval", "--model", "lenet5", "--hw", EYERISS,
                                   "--compressed", "{in}/folder"],
     "{in}/folder/layers.json: not found"),
    ("eval-compressed-other-model", ["eval", "--model", "alexnet", "--hw", EYERISS,
                                     "--compressed", "{corpus}/_support/valid_compressed"],
     "layers.json: model: the directory holds 'lenet5', not 'alexnet'"),
    ("eval-compressed-workload-yaml", ["eval", "--model", "{in}/ok.yaml", "--hw", EYERISS,
                                       "--compressed", "{corpus}/_support/valid_compressed"],
     "layers.json: model: the directory holds 'lenet5', not '{in}/ok.yaml'"),
    ("eval-no-hw", ["eval", "--model", "lenet5"],
     "the following arguments are required: --hw"),
    ("eval-unknown-flag", ["eval", "--model", "lenet5", "--hw", EYERISS, "--frobnicate"],
     "unrecognized arguments: --frobnicate"),
    # ---- compare
    ("compare-hw-comma", ["compare", "--model", "lenet5", "--hw", ",", "--dense"],
     "--hw: no design named in ','"),
    ("compare-hw-blank", ["compare", "--model", "lenet5", "--hw", " , ,", "--dense"],
     "--hw: no design named in"),
    ("compare-hw-unknown", ["compare", "--model", "lenet5", "--hw", "eyeriss,tpu", "--dense"],
     "--hw: unknown design 'tpu'"),
    ("compare-hw-bad-file", ["compare", "--model", "lenet5", "--hw",
                             "eyeriss,{corpus}/accelerators/g_axis_zero.yaml", "--dense"],
     "g_axis_zero.yaml: pe_array.shape.rows: expected an integer >= 1, found 0"),
    ("compare-dense-and-stats", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                                 "--stats", "{in}/stats.yaml"],
     "--dense: --dense means no weight statistics"),
    ("compare-dense-and-compressed", ["compare", "--model", "lenet5", "--hw", "eyeriss",
                                      "--dense", "--compressed",
                                      "{corpus}/_support/valid_compressed"],
     "--dense: --dense means no weight statistics"),
    ("compare-compressed-and-stats", ["compare", "--model", "lenet5", "--hw", "eyeriss",
                                      "--stats", "{in}/stats.yaml", "--compressed",
                                      "{corpus}/_support/valid_compressed"],
     "--stats: give either --compressed or --stats, not both"),
    ("compare-batch-0", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                         "--batch", "0"], "argument --batch: expected an integer in [1, "),
    ("compare-batch-2^40", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                            "--batch", str(2**40)], "argument --batch: expected an integer "
     "in [1, 16777216], found 1099511627776"),
    ("compare-budget-negative", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                                 "--budget", "-5"], "argument --budget: expected an integer "
     "in [1, 10000000], found -5"),
    ("compare-reference-unknown", ["compare", "--model", "lenet5", "--hw", "eyeriss",
                                   "--dense", "--reference", "tpu"],
     "--reference: 'tpu' is not among the designs (eyeriss)"),
    ("compare-out-is-file", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                             "--out", "{in}/existing.txt"],
     "--out: {in}/existing.txt exists and is not a folder"),
    ("compare-out-under-file", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                                "--out", "{in}/existing.txt/sub"],
     "--out: cannot write into {in}/existing.txt/sub: {in}/existing.txt is not a writable "
     "folder"),
    ("compare-escape-name", ["compare", "--model", "{in}/escape.yaml", "--hw", "eyeriss",
                             "--dense"], "name: '../../../../X' is not a plain name",
     ["{tmp}/X", "{cwd}/runs"]),
    ("compare-absolute-name", ["compare", "--model", "{in}/absolute.yaml", "--hw", "eyeriss",
                               "--dense"], "is not a plain name", ["{tmp}/ABS"]),
    ("compare-hidden-file-name", ["compare", "--model", "{in}/.hidden.yaml", "--hw",
                                  "eyeriss", "--dense"], "the file name '.hidden' is not a "
     "plain name; give the workload a `name:`"),
    ("compare-matched-beyond-pe-bound", ["compare", "--model", "lenet5", "--hw",
                                        "{corpus}/_support/huge_array.yaml,bit_pragmatic",
                                        "--dense"],
     "bit_pragmatic.yaml: matched to 16,777,216 MACs x 16 bit-serial units per MAC = "
     "268,435,456 PEs: at most 16,777,216 are modelled"),
    ("compare-matched-nine-axes", ["compare", "--model", "lenet5", "--hw",
                                   "eyeriss,{corpus}/accelerators/g_nine_axes.yaml", "--dense"],
     "g_nine_axes.yaml: pe_array.shape: 9 array axes: at most 8 are modelled"),
    ("compare-tech-missing", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                              "--tech", "{in}/missing.yaml"], "{in}/missing.yaml: file not "
     "found"),
    ("compare-tech-bad", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                          "--tech", "{corpus}/_support/bad_tech.yaml"],
     "bad_tech.yaml: dram_pj_per_bit: expected a number > 0, found -1"),
    ("compare-yaml-without-stats", ["compare", "--model", "{in}/ok.yaml", "--hw", "eyeriss"],
     "--model: a workload YAML has no weights to decompose: give --stats FILE or --dense"),
    ("compare-stats-missing", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--stats",
                               "{in}/missing.yaml"], "{in}/missing.yaml: file not found"),
    ("compare-stats-wrong-model", ["compare", "--model", "alexnet", "--hw", "eyeriss",
                                   "--stats", "{in}/stats.yaml"],
     "layers.features.3: alexnet has no layer 'features.3'"),
    ("compare-objective", ["compare", "--model", "lenet5", "--hw", "eyeriss", "--dense",
                           "--objective", "area"], "argument --objective: invalid choice"),
    ("compare-no-model", ["compare", "--hw", "eyeriss"],
     "the following arguments are required: --model"),
    # ---- compress (all before training)
    ("compress-sparsity-1.5", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                               "--sparsity", "1.5", "--out", "{cwd}/o"],
     "argument --sparsity: expected a finite number in [0, 1), found 1.5", ["{cwd}/o"]),
    ("compress-sparsity-1", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                             "--sparsity", "1", "--out", "{cwd}/o"],
     "argument --sparsity: expected a finite number in [0, 1), found 1"),
    ("compress-theta-nan", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                            "--theta", "nan", "--out", "{cwd}/o"],
     "argument --theta: expected a finite number in [0, 1000], found nan"),
    ("compress-theta-inf", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                            "--theta", "inf", "--out", "{cwd}/o"],
     "argument --theta: expected a finite number in [0, 1000], found inf"),
    ("compress-theta-word", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                             "--theta", "small", "--out", "{cwd}/o"],
     "argument --theta: expected a number, found 'small'"),
    ("compress-row-theta-huge", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                 "--row-theta", "1e400", "--out", "{cwd}/o"],
     "argument --row-theta: expected a finite number in [-1000, 1000], found 1e400"),
    ("compress-epochs-negative", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                  "--epochs", "-1", "--out", "{cwd}/o"],
     "argument --epochs: expected an integer in [0, 10000], found -1"),
    ("compress-retrain-epochs-huge", ["compress", "--model", "resnet20", "--dataset",
                                      "cifar10", "--retrain-epochs", "100000", "--out",
                                      "{cwd}/o"], "argument --retrain-epochs: expected an "
     "integer in [0, 10000], found 100000"),
    ("compress-threads-0", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                            "--threads", "0", "--out", "{cwd}/o"],
     "argument --threads: expected an integer in [1, 256], found 0"),
    ("compress-basis-size-0", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                               "--basis-size", "0", "--out", "{cwd}/o"],
     "argument --basis-size: expected an integer in [2, 64], found 0"),
    ("compress-ce-bits-1", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                            "--ce-bits", "1", "--out", "{cwd}/o"],
     "argument --ce-bits: expected an integer in [2, 16], found 1"),
    ("compress-max-magnitude-0", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                  "--max-magnitude", "0", "--out", "{cwd}/o"],
     "argument --max-magnitude: expected a finite number in (0, "),
    ("compress-slim-frac-1", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                              "--slim-frac", "1", "--out", "{cwd}/o"],
     "argument --slim-frac: expected a finite number in [0, 1), found 1"),
    ("compress-bits-0", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                         "--method", "uniform", "--bits", "0", "--out", "{cwd}/o"],
     "argument --bits: expected an integer in [1, 32], found 0"),
    ("compress-method", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                         "--method", "magic", "--out", "{cwd}/o"],
     "argument --method: invalid choice: 'magic'"),
    ("compress-no-out", ["compress", "--model", "resnet20", "--dataset", "cifar10"],
     "the following arguments are required: --out"),
    ("compress-unknown-model", ["compress", "--model", "nonet", "--dataset", "cifar10",
                                "--out", "{cwd}/o"], "--model: unknown model 'nonet'"),
    ("compress-workload-yaml-model", ["compress", "--model", "{in}/ok.yaml", "--dataset",
                                      "digits", "--out", "{cwd}/o"],
     "--model: unknown model '{in}/ok.yaml'"),
    ("compress-unknown-dataset", ["compress", "--model", "lenet5", "--dataset", "mnist",
                                  "--out", "{cwd}/o"], "dataset: unknown dataset 'mnist'"),
    ("compress-cifar-without-root", ["compress", "--model", "resnet20", "--dataset",
                                     "cifar10", "--out", "{cwd}/o"],
     "dataset: cifar10 needs a data root"),
    ("compress-data-root-missing", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                    "--data-root", "{in}/missing", "--out", "{cwd}/o"],
     "{in}/missing/data_batch_1: not found"),
    ("compress-data-root-empty", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                  "--data-root", "{in}/empty", "--out", "{cwd}/o"],
     "{in}/empty/data_batch_1: not found"),
    ("compress-malicious-cifar", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                  "--data-root", "{in}/evil_cifar", "--out", "{cwd}/OUT"],
     "{in}/evil_cifar/data_batch_1: not a CIFAR-10 batch (refused to load",
     ["{tmp}/PWNED", "{cwd}/OUT"]),
    ("compress-garbage-cifar", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                "--data-root", "{in}/garbage_cifar", "--out", "{cwd}/o"],
     "{in}/garbage_cifar/data_batch_1: not a CIFAR-10 batch"),
    ("compress-float-cifar", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                              "--data-root", "{in}/float_cifar", "--out", "{cwd}/o"],
     "{in}/float_cifar/data_batch_1: not a CIFAR-10 batch (data must be integers 0..255"),
    ("compress-fmnist-missing", ["compress", "--model", "lenet5", "--dataset",
                                 "fashion-mnist", "--data-root", "{in}/empty", "--out",
                                 "{cwd}/o"], "{in}/empty/train-images-idx3-ubyte.gz: not found"),
    ("compress-fmnist-truncated", ["compress", "--model", "lenet5", "--dataset",
                                   "fashion-mnist", "--data-root", "{in}/fmnist_truncated",
                                   "--out", "{cwd}/o"],
     "{in}/fmnist_truncated/train-images-idx3-ubyte.gz: truncated or padded: the header "
     "declares 7,840 bytes of data"),
    ("compress-imagefolder-empty", ["compress", "--model", "resnet20", "--dataset",
                                    "imagefolder", "--data-root", "{in}/empty", "--out",
                                    "{cwd}/o"], "{in}/empty/train: not found"),
    ("compress-imagefolder-bad-image", ["compress", "--model", "resnet20", "--dataset",
                                        "imagefolder", "--data-root", "{in}/images", "--out",
                                        "{cwd}/o"], "{in}/images/train/cat/x.png: not a "
     "readable image"),
    ("compress-model-dataset-mismatch", ["compress", "--model", "lenet5", "--dataset",
                                         "digits", "--out", "{cwd}/o"],
     "--model: lenet5 expects (1, 28, 28) inputs but digits has (1, 8, 8)"),
    ("compress-decomposed-with-prune", ["compress", "--model", "resnet20", "--dataset",
                                        "cifar10", "--method", "prune",
                                        "--decomposed-epochs", "1", "--out", "{cwd}/o"],
     "--decomposed-epochs: decomposed-form training is for --method smartexchange"),
    ("compress-decomposed-and-retrain", ["compress", "--model", "resnet20", "--dataset",
                                         "cifar10", "--retrain-epochs", "1",
                                         "--decomposed-epochs", "1", "--out", "{cwd}/o"],
     "--decomposed-epochs: give either --retrain-epochs or --decomposed-epochs"),
    # both fail fast: the data root is empty, so a check done only after loading the
    # data (or training) would give the data error instead
    ("compress-slim-without-retrain", ["compress", "--model", "resnet20", "--dataset",
                                       "cifar10", "--data-root", "{in}/empty", "--slim-frac",
                                       "0.5", "--out", "{cwd}/o"],
     "--slim-frac: channel pruning needs --retrain-epochs >= 1"),
    ("compress-out-is-file", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                              "--data-root", "{in}/empty", "--out", "{in}/existing.txt"],
     "--out: {in}/existing.txt exists and is not an empty folder"),
    ("compress-out-not-empty", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                "--data-root", "{in}/empty", "--out", "{in}/folder"],
     "--out: {in}/folder exists and is not an empty folder"),
    ("compress-out-under-file", ["compress", "--model", "resnet20", "--dataset", "cifar10",
                                 "--data-root", "{in}/empty", "--out",
                                 "{in}/existing.txt/o"], "--out: cannot write into "),
    # ---- run
    ("run-n-trials-negative", ["run", STUDY, "--n-trials", "-3", "--runs-dir", "{cwd}/R"],
     "argument --n-trials: expected an integer in [1, 1000000], found -3", ["{cwd}/R"]),
    ("run-n-trials-0", ["run", STUDY, "--n-trials", "0"],
     "argument --n-trials: expected an integer in [1, 1000000], found 0"),
    ("run-threads-0", ["run", STUDY, "--threads", "0"],
     "argument --threads: expected an integer in [1, 256], found 0"),
    ("run-heartbeat-0", ["run", STUDY, "--heartbeat-s", "0"],
     "argument --heartbeat-s: expected a finite number in [1, 3600], found 0"),
    ("run-heartbeat-nan", ["run", STUDY, "--heartbeat-s", "nan"],
     "argument --heartbeat-s: expected a finite number in [1, 3600], found nan"),
    ("run-study-missing", ["run", "{in}/missing.yaml"], "{in}/missing.yaml: file not found"),
    ("run-study-folder", ["run", "{in}/folder"], "{in}/folder: file not found"),
    ("run-runs-dir-is-file", ["run", STUDY, "--runs-dir", "{in}/existing.txt"],
     "--runs-dir: cannot write into {in}/existing.txt/quickstart: {in}/existing.txt is not a "
     "writable folder"),
    ("run-study-name-dotdot", ["run", "{in}/dotdot.yaml", "--runs-dir", "{cwd}/D"],
     "dotdot.yaml: name: '..' is not a plain name", ["{cwd}/D"]),
    ("run-dataset-model-mismatch", ["run", "{in}/mismatch.yaml", "--runs-dir", "{cwd}/R"],
     "mismatch.yaml: model: lenet5 expects (1, 28, 28) inputs but digits has (1, 8, 8)",
     ["{cwd}/R"]),
    ("run-data-missing", ["run", "{in}/no_data.yaml", "--runs-dir", "{cwd}/R"],
     "{in}/empty/data_batch_1: not found", ["{cwd}/R"]),
    ("run-malicious-cifar", ["run", "{in}/evil_study.yaml", "--runs-dir", "{cwd}/R"],
     "{in}/evil_cifar/data_batch_1: not a CIFAR-10 batch (refused to load",
     ["{cwd}/R", "{tmp}/PWNED"]),
    ("run-storage-garbage", ["run", STUDY, "--storage", "garbage", "--runs-dir", "{cwd}/R"],
     "--storage: cannot open 'garbage'", ["{cwd}/R"]),
    ("run-no-study", ["run"], "the following arguments are required: study"),
    # ---- worker
    ("worker-n-trials-negative", ["worker", "--storage", "sqlite:///{cwd}/w.db", "--study",
                                  "q", "--n-trials", "-3"],
     "argument --n-trials: expected an integer in [1, 1000000], found -3", ["{cwd}/w.db"]),
    ("worker-threads-0", ["worker", "--storage", "sqlite:///{cwd}/w.db", "--study", "q",
                          "--threads", "0"],
     "argument --threads: expected an integer in [1, 256], found 0"),
    ("worker-heartbeat-0", ["worker", "--storage", "sqlite:///{cwd}/w.db", "--study", "q",
                            "--heartbeat-s", "0"],
     "argument --heartbeat-s: expected a finite number in [1, 3600], found 0"),
    ("worker-no-storage", ["worker", "--study", "q"],
     "the following arguments are required: --storage"),
    ("worker-storage-garbage", ["worker", "--storage", "nodb://x", "--study", "q"],
     "--storage: cannot open 'nodb://x'"),
    ("worker-new-sqlite-file", ["worker", "--storage", "sqlite:///{cwd}/new.db", "--study",
                                "nope"], "--storage: no SQLite database at", ["{cwd}/new.db"]),
    # ---- pareto
    ("pareto-not-a-run", ["pareto", "{in}/folder"], "{in}/folder: not a run folder"),
    ("pareto-garbage-study-json", ["pareto", "{in}/garbage_run"],
     "{in}/garbage_run/study.json: line 1: malformed JSON"),
    ("pareto-study-json-list", ["pareto", "{in}/list_run"],
     "{in}/list_run/study.json: <top>: expected a mapping, found a list"),
    ("pareto-study-json-nan", ["pareto", "{in}/nan_run"],
     "{in}/nan_run/study.json: malformed JSON: NaN is not a number JSON allows"),
    ("pareto-study-json-extra-key", ["pareto", "{in}/extra_run"],
     "{in}/extra_run/study.json: y: unknown key"),
    ("pareto-study-json-spec-missing", ["pareto", "{in}/missing_spec_run"],
     "{in}/no.yaml: file not found"),
    ("pareto-study-json-bad-spec", ["pareto", "{in}/bad_spec_run"],
     "g_name_dot_dot.yaml: name: '..' is not a plain name"),
    ("pareto-bad-study", ["pareto", "{corpus}/studies/g_n_trials_nan.yaml"],
     "g_n_trials_nan.yaml: n_trials: expected an integer, found NaN"),
    ("pareto-storage-garbage", ["pareto", STUDY, "--storage", "garbage"],
     "--storage: cannot open 'garbage'"),
    # ---- export
    ("export-out-is-file", ["export", STUDY, "--trial", "0", "--out", "{in}/existing.txt"],
     "--out: {in}/existing.txt exists and is not an empty folder (an export never "
     "overwrites"),
    ("export-out-not-empty", ["export", STUDY, "--trial", "0", "--out", "{in}/folder"],
     "--out: {in}/folder exists and is not an empty folder"),
    ("export-out-under-file", ["export", STUDY, "--trial", "0", "--out",
                               "{in}/existing.txt/x"], "--out: cannot write into "),
    ("export-trial-negative", ["export", STUDY, "--trial", "-1", "--out", "{cwd}/x"],
     "argument --trial: expected an integer in [0, 1000000000], found -1"),
    ("export-trial-word", ["export", STUDY, "--trial", "last", "--out", "{cwd}/x"],
     "argument --trial: expected an integer, found 'last'"),
    ("export-garbage-study-json", ["export", "{in}/garbage_run", "--trial", "0", "--out",
                                   "{cwd}/x"], "{in}/garbage_run/study.json: line 1: "
     "malformed JSON", ["{cwd}/x"]),
    ("export-bad-study", ["export", "{corpus}/studies/g_name_absolute.yaml", "--trial", "0",
                          "--out", "{cwd}/x"], "name: '/tmp/escape' is not a plain name",
     ["{cwd}/x", "/tmp/escape"]),
    ("export-no-trial", ["export", STUDY, "--out", "{cwd}/x"],
     "the following arguments are required: --trial"),
    # ---- models and the top level
    ("models-flag", ["models", "--x"], "unrecognized arguments: --x"),
    ("models-positional", ["models", "lenet5"], "unrecognized arguments: lenet5"),
    ("no-command", [], "the following arguments are required: command"),
    ("unknown-command", ["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
    ("debug-misplaced", ["models", "--debug"], "unrecognized arguments: --debug"),
]


def _norm(case):
    """(args, expect, [paths]) with the paths list always present."""
    vals = list(case.values if hasattr(case, "values") else case)
    if len(vals) == 3:
        vals.append([])
    if hasattr(case, "values"):
        return pytest.param(*vals[1:], marks=case.marks, id=vals[0])
    return pytest.param(*vals[1:], id=vals[0])


def test_every_subcommand_is_covered():
    commands = {(c.values if hasattr(c, "values") else c)[1][:1][0]
                for c in CASES if (c.values if hasattr(c, "values") else c)[1]}
    assert {"eval", "compare", "compress", "run", "worker", "pareto", "export",
            "models"} <= commands
    assert len(CASES) >= 100


@pytest.mark.parametrize("args, expect, absent", [_norm(c) for c in CASES])
def test_bad_command_line(args, expect, absent, tmp_path, capsys, monkeypatch):
    _inputs(tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _tree(tmp_path)
    start = time.monotonic()
    rc, out, err = _call(_fill(args, tmp_path), capsys)
    assert rc == 2, (out[-500:], err)
    assert len(err.splitlines()) == 1, err
    assert err.startswith("sedse: error: ") and "Traceback" not in err, err
    assert _fill([expect], tmp_path)[0] in err, err
    for p in _fill(absent, tmp_path):
        assert not Path(p).exists(), f"{p} was written"
    assert _tree(tmp_path) == before, "the command wrote into the temporary tree"
    assert time.monotonic() - start < 10.0


# ---------------------------------------------------------------- malicious pickle
def test_malicious_cifar_pickle_through_compress_runs_nothing(tmp_path, capsys, monkeypatch):
    d = _inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    rc, _, err = _call(["compress", "--model", "resnet20", "--dataset", "cifar10",
                        "--data-root", str(d / "evil_cifar"), "--out", str(tmp_path / "OUT")],
                       capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"{d / 'evil_cifar' / 'data_batch_1'}: not a CIFAR-10 batch (refused to load " \
        "posix.system" in err
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "OUT").exists()


def test_malicious_cifar_pickle_through_run_runs_nothing(tmp_path, capsys, monkeypatch):
    d = _inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    rc, _, err = _call(["run", str(d / "evil_study.yaml"), "--runs-dir",
                        str(tmp_path / "RUNS"), "--no-progress"], capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"{d / 'evil_cifar' / 'data_batch_1'}: not a CIFAR-10 batch (refused to load" in err
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "RUNS").exists()     # the data is read before anything is written


def test_the_cifar_unpickler_refuses_every_global(tmp_path):
    import shutil
    import subprocess

    from sedse.compress import load_dataset

    for target in ((os.system, ("true",)), (eval, ("1",)), (exec, ("x = 1",)),
                   (__import__, ("subprocess",)), (subprocess.check_call, (["true"],)),
                   (shutil.rmtree, (str(tmp_path / "nothing"),))):
        class R:
            def __reduce__(self, target=target):
                return target
        (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": R(), b"labels": []}))
        with pytest.raises(SpecError, match="refused to load"):
            load_dataset("cifar10", tmp_path)


# ---------------------------------------------------------------- path escapes
def test_workload_names_cannot_escape_the_compare_folder(tmp_path, capsys, monkeypatch):
    d = _inputs(tmp_path)
    deep = tmp_path / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)     # ../../../../X from runs/compare/ would land in tmp_path
    before = _tree(tmp_path)
    for wl in ("escape.yaml", "absolute.yaml"):
        rc, _, err = _call(["compare", "--model", str(d / wl), "--hw", "eyeriss", "--dense"],
                           capsys)
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert f"{d / wl}: name: " in err and "is not a plain name" in err, err
    assert _tree(tmp_path) == before
    assert not (tmp_path / "X").exists() and not (tmp_path / "ABS").exists()
    assert not Path("/X").exists()


def test_study_name_dotdot_cannot_escape_the_runs_dir(tmp_path, capsys, monkeypatch):
    d = _inputs(tmp_path)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    files = []
    for i, name in enumerate(("..", ".", "../x", str(tmp_path / "abs"), "a/b", "../../..")):
        files.append(d / f"s{i}.yaml")
        files[-1].write_text(yaml.safe_dump({**QUICK, "name": name}))
    before = _tree(tmp_path)
    for f in files:
        rc, _, err = _call(["run", str(f), "--runs-dir", str(tmp_path / "D")], capsys)
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert f"{f}: name: " in err and "is not a plain name" in err, err
        assert _tree(tmp_path) == before, f


def test_export_copies_only_from_the_runs_own_cache(tmp_path):
    """A trial attribute `compressed_dir` naming another folder is never read: the export
    copies the run's cache entry of the trial's compression parameters, or fails."""
    import optuna

    from sedse.study import export_point, load_study, open_study
    from sedse.study._evaluate import compressed_cache_dir

    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(yaml.safe_dump(QUICK))
    spec = load_study(spec_file)
    run_dir = tmp_path / "run"
    elsewhere = tmp_path / "secret"
    elsewhere.mkdir()
    (elsewhere / "layers.json").write_text('{"secret": true}')
    (elsewhere / "id_rsa").write_text("PRIVATE KEY")
    study = open_study(spec, f"sqlite:///{tmp_path / 'study.db'}")
    theta = 0.01
    dist = optuna.distributions.FloatDistribution(0.005, 0.06, log=True)
    for _number in (0, 1):
        study.add_trial(optuna.trial.create_trial(
            params={"compression.theta": theta}, distributions={"compression.theta": dist},
            values=[0.9, 1.0], user_attrs={
                "feasible": True, "compressed_dir": str(elsewhere), "accuracy_frac": 0.9,
                "energy_uj": 1.0, "mappings": {"features.0": {"DRAM": {"temporal": "K6"}}}}))
    from sedse.compress import SmartExchangeConfig

    cfg = SmartExchangeConfig(**{**spec.compression_fixed(), "theta": theta})
    # no cache entry yet: the export fails, copying nothing from `elsewhere`
    with pytest.raises(SpecError, match="compressed weights are gone"):
        export_point(study, spec, 0, tmp_path / "out0", run_dir=run_dir)
    assert not (tmp_path / "out0").exists()
    cache = compressed_cache_dir(run_dir, spec, cfg)
    cache.mkdir(parents=True)
    (cache / "layers.json").write_text('{"own": true}')
    export_point(study, spec, 1, tmp_path / "out1", run_dir=run_dir)
    copied = tmp_path / "out1" / "compressed"
    assert json.loads((copied / "layers.json").read_text()) == {"own": True}
    assert not (copied / "id_rsa").exists()
    assert cache.resolve().is_relative_to(run_dir.resolve())


# ---------------------------------------------------------------- decompression bomb
def _gzip_bomb(path: Path, header: bytes, zeros: int) -> None:
    """A valid gzip of `header` + `zeros` zero bytes, written in a few MB: one deflate
    block of 16 MiB of zeros (after a full flush, so it stands alone) repeated."""
    chunk = 16 * 2**20
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block0 = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    zero_chunk = bytes(chunk)
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + block0)
        for _ in range(zeros // chunk):
            f.write(block)
            crc = zlib.crc32(zero_chunk, crc)
        f.write(co.flush())
        f.write(struct.pack("<II", crc, (len(header) + zeros) & 0xFFFFFFFF))


@pytest.mark.parametrize("dims", [(1, 2, 2), (60000, 28, 28)], ids=["tiny", "full-size"])
def test_fashion_mnist_gzip_bomb_is_refused_quickly(dims, tmp_path):
    from sedse.compress import load_dataset

    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_bomb(bomb, struct.pack(">IIII", 2051, *dims), 2 * 2**30)
    assert bomb.stat().st_size < 8 * 2**20            # a few MB for 2 GiB of zeros
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(SpecError, match="truncated or padded: the header declares "
                           r"[0-9,]+ bytes of data, the file holds more \(not read\)") as info:
            load_dataset("fashion-mnist", tmp_path)
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(bomb) in str(info.value)
    assert elapsed < 10.0
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB allocated"


# ---------------------------------------------------------------- crashes on valid input
def test_compressed_directory_with_null_accuracy_does_not_crash(tmp_path, capsys):
    import shutil

    d = tmp_path / "c"
    shutil.copytree(CORPUS / "_support" / "valid_compressed", d)
    doc = json.loads((d / "layers.json").read_text())
    doc["accuracy"] = None
    (d / "layers.json").write_text(json.dumps(doc))
    rc, _, err = _call(["eval", "--model", "lenet5", "--hw", EYERISS, "--compressed", str(d),
                        "--budget", "20"], capsys)
    assert rc in (0, 2) and "Traceback" not in err


# ---------------------------------------------------------------- hangs and sizes
def test_oversized_files_are_refused_before_reading(tmp_path, capsys, monkeypatch):
    """A spec or layers.json over 32 MiB (sparse files here: nothing is written) is
    refused from its size alone."""
    import shutil

    monkeypatch.chdir(tmp_path)
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(33 * 2**20)
    comp = tmp_path / "comp"
    shutil.copytree(CORPUS / "_support" / "valid_compressed", comp)
    with open(comp / "layers.json", "r+b") as f:
        f.truncate(33 * 2**20)
    for args, where in ((["eval", "--model", "lenet5", "--hw", str(big)], big),
                        (["eval", "--model", str(big), "--hw", EYERISS], big),
                        (["run", str(big)], big),
                        (["eval", "--model", "lenet5", "--hw", EYERISS, "--compressed",
                          str(comp)], comp / "layers.json")):
        start = time.monotonic()
        rc, _, err = _call(args, capsys)
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert f"{where}: 34,603,008 bytes: larger than the 33,554,432 bytes" in err, err
        assert time.monotonic() - start < 10


def test_matching_many_axes_to_a_composite_budget_is_fast_and_exact():
    """`--matched` sizes the array axes by a pruned search: the same shape as trying
    every factorisation (small cases), and fast where that took minutes (8 axes)."""
    import itertools
    import math

    from sedse._numbers import divisors
    from sedse.hardware._matched import _shape

    def brute(axes, target):
        want = np.log([s for _, s in axes])
        want = want + (math.log(target) - want.sum()) / len(axes)
        best, err = None, math.inf
        for combo in itertools.product(divisors(target), repeat=len(axes) - 1):
            if target % math.prod(combo):
                continue
            sizes = (*combo, target // math.prod(combo))
            e = float(((np.log(sizes) - want) ** 2).sum())
            if e < err:
                best, err = sizes, e
        return tuple((a, s) for (a, _), s in zip(axes, best, strict=True))

    for axes in ((("r", 12), ("c", 14)), (("s", 4), ("l", 6), ("m", 7)),
                 (("a", 1), ("b", 16), ("c", 3), ("d", 2))):
        for target in (1, 7, 168, 360, 1024, 5040, 9973):
            assert _shape(axes, target) == brute(axes, target), (axes, target)
    start = time.monotonic()
    for target in (2**8, 720720, 14414400):
        shape = _shape(tuple((f"a{i}", 2 + i % 3) for i in range(8)), target)
        assert math.prod(s for _, s in shape) == target
    assert time.monotonic() - start < 10
