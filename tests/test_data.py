"""Datasets from local files: Fashion-MNIST IDX, sklearn digits, CIFAR-10, image folders."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from sedse.compress import load_dataset
from sedse.compress._data import FASHION_MNIST_ROOT
from sedse.errors import SpecError

# CI installs Debian's dataset-fashion-mnist and sets this, so a missing dataset fails
# there instead of skipping.
REQUIRE = os.environ.get("SEDSE_REQUIRE_DATASETS") == "1"
HAVE_FMNIST = (FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").is_file()


@pytest.mark.skipif(not HAVE_FMNIST and not REQUIRE,
                    reason="apt-get install dataset-fashion-mnist to run")
def test_fashion_mnist_from_debian_package():
    d = load_dataset("fashion-mnist")
    # 10% of the training files held out (seeded) as the validation split
    assert d.train_x.shape == (54000, 1, 28, 28) and d.test_x.shape == (10000, 1, 28, 28)
    assert d.val_x.shape == (6000, 1, 28, 28) and len(d.fingerprint) == 32
    assert d.train_x.dtype == np.float32 and set(np.unique(d.train_y)) == set(range(10))
    assert np.bincount(d.test_y).tolist() == [1000] * 10
    assert abs(float(d.train_x.mean())) < 1e-3 and abs(float(d.train_x.std()) - 1) < 1e-2


def test_digits():
    d = load_dataset("digits")
    assert d.train_x.shape == (1212, 1, 8, 8) and d.test_x.shape == (450, 1, 8, 8)
    assert d.val_x.shape == (135, 1, 8, 8)
    assert d.num_classes == 10


def _write_idx(path, magic, arr):
    head = np.array([magic, *arr.shape], dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(head + arr.astype(np.uint8).tobytes())


def test_idx_reader_and_corrupted_files(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 10)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", 2051,
                   rng.integers(0, 255, (n, 28, 28)))
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", 2049, np.arange(n) % 10)
    d = load_dataset("fashion-mnist", tmp_path)
    assert d.train_x.shape == (18, 1, 28, 28) and d.test_y.tolist() == list(range(10))
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x00\x00\x08\x01garbage")
    with pytest.raises(SpecError, match="t10k-labels-idx1-ubyte.gz: truncated or padded"):
        load_dataset("fashion-mnist", tmp_path)


def test_missing_dataset_names_path_and_fix(tmp_path):
    with pytest.raises(SpecError, match=r"train-images-idx3-ubyte.gz: not found; install "
                                        r"Debian's dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(SpecError, match="unknown dataset 'mnist2'"):
        load_dataset("mnist2")
    with pytest.raises(SpecError, match="cifar10 needs a data root"):
        load_dataset("cifar10")


def test_cifar10_python_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8),
                         b"labels": [0, 1, 2, 3]}, f)
    d = load_dataset("cifar10", tmp_path)
    assert d.train_x.shape == (18, 3, 32, 32) and d.test_x.shape == (4, 3, 32, 32)


def test_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            Image.new("RGB", (40, 30), (10, 20, 30)).save(tmp_path / split / c / "a.png")
    d = load_dataset("imagefolder", tmp_path, image_size=16)
    assert d.train_x.shape == (2, 3, 16, 16) and d.num_classes == 2


def _write_plain_idx(path, magic, arr):
    path.write_bytes(np.array([magic, *arr.shape], dtype=">u4").tobytes()
                     + arr.astype(np.uint8).tobytes())


@pytest.mark.parametrize("style", ["gz", "plain", "dotted"])
def test_any_idx_folder(tmp_path, style):
    """`--dataset idx`: MNIST's file names, plain, gzipped or with MNIST mirrors' dotted
    names; the class count comes from the labels."""
    rng = np.random.default_rng(1)
    for split, n in (("train", 30), ("t10k", 12)):
        for kind, magic, arr in (("images", 2051, rng.integers(0, 255, (n, 28, 28))),
                                 ("labels", 2049, np.arange(n) % 4)):
            nd = 3 if kind == "images" else 1
            name = f"{split}-{kind}.idx{nd}-ubyte" if style == "dotted" else \
                f"{split}-{kind}-idx{nd}-ubyte"
            if style == "gz":
                _write_idx(tmp_path / f"{name}.gz", magic, arr)
            else:
                _write_plain_idx(tmp_path / name, magic, arr)
    d = load_dataset("idx", tmp_path)
    assert d.input_chw == (1, 28, 28) and d.num_classes == 4
    assert len(d.train_x) + len(d.val_x) == 30 and len(d.test_x) == 12
    assert d.name == f"idx:{tmp_path.name}"
    if style == "gz":
        # a 32 x 32 model (the CIFAR-style nets) gets the images zero-padded, centred,
        # by 2 pixels a side; a larger gap is left for the caller's mismatch message
        p = load_dataset("idx", tmp_path, image_size=32)
        assert p.input_chw == (1, 32, 32) and p.fingerprint != d.fingerprint
        border = np.concatenate([p.train_x[:, :, :2].ravel(), p.train_x[:, :, -2:].ravel(),
                                 p.train_x[:, :, :, :2].ravel(), p.train_x[:, :, :, -2:].ravel()])
        assert np.all(border == border[0]) and border[0] < p.train_x.mean()  # black
        inner = p.train_x[:, :, 2:-2, 2:-2]
        ref = (d.train_x - d.train_x.mean()) / d.train_x.std()
        got = (inner - inner.mean()) / inner.std()
        assert np.allclose(ref, got, atol=1e-4)            # the same pixels inside
        assert load_dataset("idx", tmp_path, image_size=40).input_chw == (1, 28, 28)
        assert load_dataset("idx", tmp_path, image_size=28).fingerprint == d.fingerprint


def test_idx_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(SpecError, match="idx needs a data root"):
        load_dataset("idx")
    with pytest.raises(SpecError, match=r"nowhere: not found \(an IDX data root is a folder"):
        load_dataset("idx", tmp_path / "nowhere")
    with pytest.raises(SpecError, match="no train images IDX file \\(expected "
                                        "train-images-idx3-ubyte or train-images.idx3-ubyte"):
        load_dataset("idx", tmp_path)


def test_grey_image_folder_at_the_models_size(tmp_path):
    """An image folder read as the model takes it: grey 28 x 28 for LeNet-5."""
    from PIL import Image

    import sedse_models

    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            Image.new("RGB", (50, 40), (200, 100, 0)).save(tmp_path / split / c / "x.png")
    c, h, w = sedse_models.MODELS["lenet5"].input_chw
    d = load_dataset("imagefolder", tmp_path, image_size=h, channels=c)
    assert d.input_chw == (1, 28, 28)
    with pytest.raises(SpecError, match="grey \\(1 channel\\) or colour \\(3\\), not 4"):
        load_dataset("imagefolder", tmp_path, channels=4)


def test_digits_have_a_shipped_model():
    import sedse_models

    assert load_dataset("digits").input_chw == sedse_models.MODELS["lenet5_digits"].input_chw


def test_model_and_data_mismatch_is_one_line(tmp_path, capsys):
    from sedse.cli import main

    rc = main(["compress", "--model", "lenet5", "--dataset", "digits", "--out",
               str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "lenet5 expects (1, 28, 28) inputs but digits has (1, 8, 8)" in err
    rc = main(["compress", "--model", "resnet20_gray32", "--dataset", "digits", "--out",
               str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "resnet20_gray32 expects (1, 32, 32) inputs but digits has" in err
