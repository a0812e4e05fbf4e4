"""Datasets as numpy arrays, read from local files only (nothing is downloaded).

* ``fashion-mnist``: the IDX files of Debian's ``dataset-fashion-mnist`` package
  (``/usr/share/datasets/fashion-mnist``, or ``root``), read with numpy; zero-padded
  to 32 x 32 for a model that takes that (the CIFAR-style networks);
* ``digits``: scikit-learn's bundled 8x8 digits (1797 images; a fixed 75/25 split);
* ``cifar10``: the "python version" folder (``data_batch_1..5``, ``test_batch``) at
  ``root``;
* ``idx``: any folder of IDX files with the MNIST / Fashion-MNIST names
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``; each plain or ``.gz``, or with ``.idx3-ubyte`` spelled with
  a dot), e.g. MNIST itself;
* ``imagefolder``: ``root/train/<class>/*`` and ``root/test/<class>/*`` images (PIL),
  grey or colour as the model takes them (``channels`` 1 or 3) and resized to
  ``image_size`` (the model's input size).

Images are float32 (N, C, H, W) scaled to [0, 1] then standardised with the training
set's per-channel mean and standard deviation; labels are int64. A validation split
(10% of the training files, seeded) is held out of the training set (`Dataset`).
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sedse.errors import SpecError

DATASETS = ("fashion-mnist", "digits", "cifar10", "imagefolder", "idx")
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")


VAL_FRAC = 0.1      # held out of the training split (seeded) for tuning and reporting
VAL_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test arrays. The validation split is held out of the
    training files (a seeded permutation); studies and `sedse compress` tune and report
    on it, the test split is reported beside it for final points. `fingerprint` is a
    content hash of the arrays as read (before standardisation) and of the split, so a
    cache keyed by it never returns a model trained on other data."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    val_x: np.ndarray | None = None
    val_y: np.ndarray | None = None
    fingerprint: str = ""

    @property
    def input_chw(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of "train", "val" or "test" ("val" falls back to nothing: SpecError)."""
        if name == "train":
            return self.train_x, self.train_y
        if name == "test":
            return self.test_x, self.test_y
        if name == "val":
            if self.val_x is None or self.val_y is None or not len(self.val_x):
                raise SpecError(f"dataset {self.name}", "has no validation split")
            return self.val_x, self.val_y
        raise SpecError("split", f"expected train, val or test, found {name!r}")


def _finish(name: str, tx: np.ndarray, ty: np.ndarray, vx: np.ndarray, vy: np.ndarray,
            classes: int, val_frac: float = VAL_FRAC, seed: int = VAL_SEED) -> Dataset:
    """Hold out the validation split, standardise with the remaining training images'
    statistics and fingerprint the content."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in (tx, ty, vx, vy):
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(np.ascontiguousarray(a).data)
    h.update(f"val {val_frac!r} seed {seed}".encode())
    order = np.random.default_rng(seed).permutation(len(tx))
    n_val = int(round(val_frac * len(tx)))
    va, tr = order[:n_val], np.sort(order[n_val:])
    mean = tx[tr].mean(axis=(0, 2, 3), keepdims=True)
    std = tx[tr].std(axis=(0, 2, 3), keepdims=True) + 1e-8

    def norm(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)

    return Dataset(name, norm(tx[tr]), ty[tr], norm(vx), vy, classes, norm(tx[va]), ty[va],
                   h.hexdigest())


MAX_DATA_BYTES = 2**32          # one IDX array or CIFAR batch at most (4 GiB)
MAX_IMAGE_PIXELS = 2**26        # one image at most (64 Mpixel), checked before decoding


def _read_bounded(path: Path, header_bytes: int, size_of) -> bytes:
    """The file's bytes (gunzipped for .gz), reading at most the header and then the
    size the header declares (`size_of(header) -> int`), plus one byte to detect a
    longer file: a small gzip cannot expand into gigabytes of memory."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(header_bytes)
            if len(head) < header_bytes:
                raise SpecError(str(path), "truncated (shorter than its header)")
            n = size_of(head)
            if n is None or n > MAX_DATA_BYTES:
                return head
            body = f.read(n + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SpecError(str(path), f"cannot be read ({exc})") from None
    return head + body


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    if not path.is_file():
        raise SpecError(str(path), "not found; install Debian's dataset-fashion-mnist "
                        "(apt-get install dataset-fashion-mnist) or pass the folder holding "
                        "the IDX files as the data root")
    hdr = 4 + 4 * ndim

    def declared(head: bytes) -> int | None:
        h = np.frombuffer(head, dtype=">u4")
        if int(h[0]) != magic:
            return None
        return int(np.prod(h[1:].astype(object)))

    raw = _read_bounded(path, hdr, declared)
    head = np.frombuffer(raw[:hdr], dtype=">u4")
    dims = tuple(int(d) for d in head[1:])
    size = int(np.prod(np.array(dims, dtype=object)))
    if int(head[0]) != magic:
        raise SpecError(str(path), f"not an IDX file of the expected kind (magic {magic}, "
                        f"found {int(head[0])})")
    if size > MAX_DATA_BYTES:
        raise SpecError(str(path), f"declares {size:,} bytes of data (at most "
                        f"{MAX_DATA_BYTES:,})")
    if len(raw) != hdr + size:
        held = f"{len(raw) - hdr:,}" if len(raw) <= hdr + size else "more (not read)"
        raise SpecError(str(path), f"truncated or padded: the header declares {size:,} bytes "
                        f"of data, the file holds {held}")
    return np.frombuffer(raw, dtype=np.uint8, offset=hdr).reshape(dims)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches without executing anything: only the plain
    containers, strings and bytes of the format and numpy's array reconstruction are
    admitted; every other global (os.system, builtins.eval, ...) is refused."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"),
                ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (a CIFAR-10 batch holds "
                                     "only lists, bytes and arrays)")


def _idx_file(root: Path, split: str, kind: str, ndim: int, install_hint: bool) -> Path:
    """The IDX file of a split ("train", "t10k") and kind ("images", "labels") in `root`,
    under any of the names MNIST and Fashion-MNIST ship with."""
    names = [f"{split}-{kind}-idx{ndim}-ubyte", f"{split}-{kind}.idx{ndim}-ubyte"]
    for n in names:
        for f in (root / f"{n}.gz", root / n):
            if f.is_file():
                return f
    if install_hint:
        return root / f"{names[0]}.gz"      # _read_idx's message says how to install it
    raise SpecError(str(root), f"no {split} {kind} IDX file (expected {names[0]} or "
                    f"{names[1]}, plain or .gz)")


def _idx_dataset(root: Path, name: str, install_hint: bool = False,
                 pad_to: int | None = None) -> Dataset:
    if not install_hint and not root.is_dir():
        raise SpecError(str(root), "not found (an IDX data root is a folder)")

    def pair(split: str):
        xf = _idx_file(root, split, "images", 3, install_hint)
        yf = _idx_file(root, split, "labels", 1, install_hint)
        x, y = _read_idx(xf, 2051, 3), _read_idx(yf, 2049, 1)
        if len(x) != len(y):
            raise SpecError(str(root), f"{split}: {len(x)} images but {len(y)} labels")
        return _pad(x[:, None].astype(np.float32) / 255.0, pad_to), y.astype(np.int64)

    tx, ty = pair("train")
    vx, vy = pair("t10k")
    return _finish(name, tx, ty, vx, vy, int(max(ty.max(), vy.max())) + 1)


def _fashion_mnist(root: Path, pad_to: int | None = None) -> Dataset:
    return _idx_dataset(root, "fashion-mnist", install_hint=True, pad_to=pad_to)


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(0.75 * len(x))
    tr, te = order[:cut], order[cut:]
    return _finish("digits", x[tr], y[tr], x[te], y[te], 10)


def _cifar10(root: Path) -> Dataset:
    def batch(name: str):
        path = root / name
        if not path.is_file():
            raise SpecError(str(path), "not found; point the data root at the CIFAR-10 "
                            "'python version' folder (cifar-10-batches-py)")
        if path.stat().st_size > MAX_DATA_BYTES:
            raise SpecError(str(path), "larger than a CIFAR-10 batch can be")
        try:
            with open(path, "rb") as f:
                d = _CifarUnpickler(f, encoding="bytes").load()
            if not isinstance(d, dict):
                raise ValueError("expected a dictionary")
            # the format holds `data` as one uint8 array and `labels` as a flat list of
            # ints: anything else (nested lists sharing references) could expand a small
            # pickle into gigabytes, so it is refused before any conversion
            x, labels = d[b"data"], d[b"labels"]
            if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 3072:
                raise ValueError("data must be a numpy array of shape (N, 3072)")
            if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(x) or (
                    isinstance(labels, list)
                    and not all(type(v) is int for v in labels)):
                raise ValueError("labels must be a flat list of N integers")
            y = np.asarray(labels)
            # integers only (a float array would be cast silently, NaN to garbage)
            if x.dtype.kind not in "ui" or (x.size and (x.min() < 0 or x.max() > 255)):
                raise ValueError(f"data must be integers 0..255, found {x.dtype} values")
            if y.dtype.kind not in "ui" or y.ndim != 1:
                raise ValueError(f"labels must be a list of integers, found {y.dtype} "
                                 f"values of shape {y.shape}")
            x = x.astype(np.uint8).reshape(-1, 3, 32, 32)
            y = y.astype(np.int64)
            if len(x) != len(y) or (len(y) and (y.min() < 0 or y.max() > 9)):
                raise ValueError(f"{len(x)} images, {len(y)} labels in 0..9")
            return x.astype(np.float32) / 255.0, y
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError,
                AttributeError, IndexError, OverflowError, MemoryError) as exc:
            raise SpecError(str(path), f"not a CIFAR-10 batch ({str(exc)[:160]})") from None

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    tx = np.concatenate([p[0] for p in parts])
    ty = np.concatenate([p[1] for p in parts])
    vx, vy = batch("test_batch")
    return _finish("cifar10", tx, ty, vx, vy, 10)


def _imagefolder(root: Path, image_size: int, channels: int = 3) -> Dataset:
    from PIL import Image

    def split(name: str, classes: list[str] | None):
        base = root / name
        if not base.is_dir():
            raise SpecError(str(base), "not found; an image folder needs train/<class>/ and "
                            "test/<class>/ subfolders")
        classes = classes or sorted(p.name for p in base.iterdir() if p.is_dir())
        xs, ys = [], []
        for ci, c in enumerate(classes):
            for f in sorted((base / c).iterdir()) if (base / c).is_dir() else []:
                try:
                    with Image.open(f) as im:   # lazy: the header only, nothing decoded
                        if im.width * im.height > MAX_IMAGE_PIXELS:
                            raise SpecError(str(f), f"{im.width}x{im.height} pixels: larger "
                                            f"than the {MAX_IMAGE_PIXELS:,} pixels read")
                        img = im.convert("L" if channels == 1 else "RGB").resize(
                            (image_size, image_size))
                except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
                    raise SpecError(str(f), "not a readable image") from None
                a = np.asarray(img, dtype=np.float32)
                xs.append((a[None] if a.ndim == 2 else a.transpose(2, 0, 1)) / 255.0)
                ys.append(ci)
        if not xs:
            raise SpecError(str(base), "holds no images")
        return np.stack(xs), np.array(ys, dtype=np.int64), classes

    tx, ty, classes = split("train", None)
    vx, vy, _ = split("test", classes)
    return _finish(f"imagefolder:{root.name}", tx, ty, vx, vy, len(classes))


MAX_PAD = 4     # pixels added per side pair: 28 x 28 IDX images to 32 x 32, no further


def _pad(x: np.ndarray, size: int | None) -> np.ndarray:
    """Zero-pad (N, C, H, W) images, centred, to size x size when that is larger by at
    most MAX_PAD pixels (28 x 28 to 32 x 32, LeNet-5's padded MNIST); as they are
    otherwise (a larger gap is a model / data mismatch, reported by the caller)."""
    if size is None or not 0 < size - x.shape[2] <= MAX_PAD \
            or not 0 < size - x.shape[3] <= MAX_PAD:
        return x
    dh, dw = size - x.shape[2], size - x.shape[3]
    return np.pad(x, ((0, 0), (0, 0), (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)))


def load_dataset(name: str, root: str | Path | None = None, *,
                 image_size: int | None = None, channels: int = 3) -> Dataset:
    """Return the named dataset (SpecError naming the path when files are missing).
    `image_size` and `channels` shape an image folder's images (give the model's; the
    size defaults to 32); IDX sets (fashion-mnist, idx) are zero-padded, centred, to an
    `image_size` up to 4 pixels larger than theirs (Fashion-MNIST's 28 x 28 to 32 x 32
    for CIFAR-style networks) and kept as they are otherwise."""
    if name == "fashion-mnist":
        return _fashion_mnist(Path(root) if root else FASHION_MNIST_ROOT, image_size)
    if name == "digits":
        return _digits()
    if name in ("cifar10", "imagefolder", "idx"):
        if root is None:
            raise SpecError("dataset", f"{name} needs a data root (the local folder)")
        if name == "idx":
            return _idx_dataset(Path(root), f"idx:{Path(root).name}", pad_to=image_size)
        if channels not in (1, 3):
            raise SpecError("dataset", f"image folders are read grey (1 channel) or colour "
                            f"(3), not {channels} channels")
        return _cifar10(Path(root)) if name == "cifar10" else \
            _imagefolder(Path(root), image_size or 32, channels)
    raise SpecError("dataset", f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
