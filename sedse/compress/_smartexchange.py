"""SmartExchange decomposition: W ~ Ce . B with power-of-two, sparse Ce.

Zhao et al., "SmartExchange: Trading Higher-cost Memory Storage/Access for Lower-cost
Computation", ISCA 2020 (arXiv 2005.03403), and the authors' released code
(REFERENCE.md 1.1-1.2).

Blocking (1.1, generalised to every basis size S and layer kind):
* kernel rows: a conv whose kernel width equals S (3x3 with S = 3 as in the paper, 5x5
  with S = 5, 7x7 with S = 7; depthwise filters too, whose C is 1, so each 3x3 filter is
  its own 3 x 3 Ce with its own B, as in the paper) becomes a (C * R) x S matrix per
  filter, rows ordered (input channel, kernel row);
* flat rows: every other weight (1x1 conv, FC, and a kernel whose width is not S, e.g.
  a 5x5 or 7x7 stem with S = 3) flattens each output filter's C * R * S' weights,
  zero-pads them to a multiple of S and reshapes them to (L / S) x S, as the paper does
  for 1x1 and FC layers.
Rows are cut into blocks of at most `block_rows` rows, each with its own S x S basis;
the last block of a filter is padded with zero rows (they cost nothing: they are not
stored and not indexed). The authors' code left 5x5 and 7x7 kernels dense; here every
conv and FC weight is decomposed (`DECOMPOSITION_VERSION` 2), so S is a knob of every
layer.

Algorithm per block (1.2), run for all blocks of a layer at once as batched S x S
least-squares solves: start from B = I, Ce = block; repeat at most `max_iter` times:
quantise Ce to powers of two; stop the block when the quantised Ce no longer changes
(Frobenius norm of the change <= `tol`); fit B by least squares given the quantised
Ce; fit a continuous Ce given B; sparsify Ce (rows whose L1 norm is below
`row_theta`, then entries below `theta`). Finally quantise once more, re-fit B and
quantise B to `basis_bits` (symmetric uniform, one 32-bit scale per layer), so the
weights the network computes with are exactly the stored ones.

Quantisation: |c| rounds to the nearest power of two in linear distance, clipped at
the largest power of two <= `max_magnitude`. Ce is stored in `ce_bits` bits: a sign and
an exponent code with one code for zero, so 2**(ce_bits - 1) - 1 exponents. Each block
uses the window of that
many exponents ending at the block's largest magnitude (a per-block power-of-two
scale that the block's B absorbs, so W = Ce . B is unchanged); magnitudes below the
window round to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sedse.errors import SpecError

#: bump when what a decomposition of the same weights and config gives changes: caches
#: keyed by it are never read across versions (2: every kernel size decomposed)
DECOMPOSITION_VERSION = 2

@dataclass(frozen=True)
class SmartExchangeConfig:
    """Knobs of the decomposition (all searchable)."""

    basis_size: int = 3          # S: columns of Ce, B is S x S
    block_rows: int = 192        # max rows of Ce sharing one B
    theta: float = 4e-3          # element threshold on |Ce|
    row_theta: float | None = 2e-2   # row L1 threshold (5 x theta in the paper); None: off
    ce_bits: int = 4             # sign + exponent code per Ce entry
    max_magnitude: float = 32.0  # clip |Ce| here
    basis_bits: int = 8          # bits per B entry
    max_iter: int = 30
    tol: float = 1e-10

    def __post_init__(self) -> None:
        checks = [
            ("basis_size", self.basis_size >= 2, "an integer >= 2"),
            ("block_rows", self.block_rows >= 1, "an integer >= 1"),
            ("theta", self.theta > 0, "a number > 0"),
            ("row_theta", self.row_theta is None or self.row_theta > 0, "a number > 0 or null"),
            ("ce_bits", self.ce_bits >= 2, "an integer >= 2"),
            ("max_magnitude", self.max_magnitude > 0, "a number > 0"),
            ("basis_bits", self.basis_bits >= 2, "an integer >= 2"),
            ("max_iter", self.max_iter >= 1, "an integer >= 1"),
            ("tol", self.tol >= 0, "a number >= 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise SpecError(f"smartexchange.{name}",
                                f"expected {expected}, found {getattr(self, name)!r}")

    @property
    def n_exponents(self) -> int:
        return 2 ** (self.ce_bits - 1) - 1


# ---------------------------------------------------------------------------------
# blocking

@dataclass(frozen=True)
class Blocks:
    """A layer's weights as blocks: X (n_blocks, block_rows, S), real-row mask."""

    x: np.ndarray
    valid: np.ndarray          # (n_blocks, block_rows) bool: row exists in W
    shape: tuple[int, ...]     # original weight shape
    rows_per_filter: int       # real rows per output filter
    pad_cols: int              # zero columns padded per filter (flat rows)


def decomposable(shape: tuple[int, ...], basis_size: int) -> bool:
    """True when the method covers a weight of this shape: every conv (4-D) and FC (2-D)
    weight, at any basis size (see the module docstring)."""
    return len(shape) in (2, 4) and basis_size >= 2


def kernel_rows(shape: tuple[int, ...], basis_size: int) -> bool:
    """True when a weight is blocked by kernel rows (its kernel width is the basis size),
    False when by flat rows."""
    return len(shape) == 4 and shape[3] == basis_size


def to_blocks(w: np.ndarray, cfg: SmartExchangeConfig) -> Blocks:
    S, H = cfg.basis_size, cfg.block_rows
    k = w.shape[0]
    if kernel_rows(tuple(w.shape), S):
        rows = w.reshape(k, -1, S)                  # (K, C * R, S), rows (c, r)
        pad_cols = 0
    else:
        flat = w.reshape(k, -1)
        pad_cols = (-flat.shape[1]) % S
        rows = np.pad(flat, ((0, 0), (0, pad_cols))).reshape(k, -1, S)
    n_rows = rows.shape[1]
    per = -(-n_rows // H)                             # blocks per filter
    h = min(H, n_rows)
    padded = np.zeros((k, per * h, S), dtype=np.float64)
    padded[:, :n_rows] = rows
    valid = np.zeros((k, per * h), dtype=bool)
    valid[:, :n_rows] = True
    return Blocks(padded.reshape(k * per, h, S), valid.reshape(k * per, h), tuple(w.shape),
                  n_rows, pad_cols)


def from_blocks(y: np.ndarray, b: Blocks) -> np.ndarray:
    k = b.shape[0]
    rows = y.reshape(k, -1, y.shape[-1])[:, :b.rows_per_filter]
    flat = rows.reshape(k, -1)
    if b.pad_cols:
        flat = flat[:, :flat.shape[1] - b.pad_cols]
    return flat.reshape(b.shape)


# ---------------------------------------------------------------------------------
# the batched algorithm

_EXP = np.int64(0x7FF0000000000000)
_TOP = np.int64(0x0008000000000000)


def quantise_pow2(c: np.ndarray, cfg: SmartExchangeConfig) -> np.ndarray:
    """Signed powers of two (nearest in linear distance) within each block's exponent
    window; below the window -> 0. `c` is (n_blocks, rows, S), float64."""
    mag = np.abs(c)
    # mag = 1.f x 2**E: the nearer of 2**E and 2**(E+1) is the upper one iff 1.f >= 1.5,
    # i.e. iff the top mantissa bit is set: adding that bit carries into the exponent
    # exactly then, and masking the exponent keeps 2**E or 2**(E+1) (in place: every
    # pass over these arrays is memory-bound)
    qi = mag.view(np.int64) + _TOP
    qi &= _EXP
    q = qi.view(np.float64)
    top = q.max(axis=(1, 2), keepdims=True)
    cap = 2.0 ** np.floor(np.log2(cfg.max_magnitude))
    if top.max() > cap:       # the clip changes something (max(min(q, cap)) = min(top, cap))
        np.minimum(q, cap, out=q)
        np.minimum(top, cap, out=top)
    floor = top * 2.0 ** (-(cfg.n_exponents - 1))      # smallest representable
    # below the window the nearer of 0 and the smallest level wins
    zero = mag < floor / 2
    np.maximum(q, floor, out=q)
    np.copyto(q, 0.0, where=zero)
    return np.copysign(q, c, out=q)


def uniform_quantise(x: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric uniform quantisation to `bits` with one scale for the whole array
    (max |x| / (2^(bits-1) - 1); the scale is stored at 32 bits)."""
    top = float(np.abs(x).max()) if x.size else 0.0
    if top == 0:
        return np.zeros_like(x, dtype=np.float64)
    step = top / (2 ** (bits - 1) - 1)
    return np.round(x / step) * step


def _fit_basis(ce: np.ndarray, x: np.ndarray) -> np.ndarray:
    """argmin_B ||X - Ce B|| per block: normal equations, pseudo-inverse where singular."""
    ct = ce.transpose(0, 2, 1)
    g = ct @ ce          # batched matmul: ~10x faster than einsum here
    rhs = ct @ x
    s = g.shape[-1]
    cond_ok = np.abs(np.linalg.det(g)) > 1e-12 * np.maximum(
        np.einsum("bii->b", g) ** s, 1e-300)
    out = np.empty_like(rhs)
    if cond_ok.any():
        out[cond_ok] = np.linalg.solve(g[cond_ok], rhs[cond_ok])
    if (~cond_ok).any():
        out[~cond_ok] = np.linalg.pinv(ce[~cond_ok]) @ x[~cond_ok]
    return out


def _fit_coeffs(b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """argmin_Ce ||X - Ce B|| per block (B is S x S): X inv(B), pinv where singular."""
    s = b.shape[-1]
    scale = np.maximum(np.abs(b).max(axis=(1, 2)), 1e-300) ** s
    ok = np.abs(np.linalg.det(b)) > 1e-12 * scale
    inv = np.empty_like(b)
    if ok.any():
        inv[ok] = np.linalg.inv(b[ok])
    if (~ok).any():
        inv[~ok] = np.linalg.pinv(b[~ok])
    return x @ inv


def _sparsify(ce: np.ndarray, cfg: SmartExchangeConfig) -> np.ndarray:
    """Zero rows with L1 norm below row_theta, then entries below theta. Padding rows
    are zero already (X's padding rows are zero, so any fitted Ce row there is too)."""
    a = np.abs(ce)
    drop = a < cfg.theta
    if cfg.row_theta is not None:
        drop |= (a @ np.ones((ce.shape[-1], 1), dtype=ce.dtype)) < cfg.row_theta
    np.copyto(ce, 0.0, where=drop)      # as ce[drop] = 0, without the boolean gather
    return ce


@dataclass(frozen=True)
class Decomposition:
    ce: np.ndarray        # (n_blocks, rows, S) signed powers of two or 0
    basis: np.ndarray     # (n_blocks, S, S)
    blocks: Blocks
    iterations: int

    def reconstruct(self) -> np.ndarray:
        return from_blocks(self.ce @ self.basis, self.blocks)


def _checked_blocks(w: np.ndarray, cfg: SmartExchangeConfig) -> Blocks:
    """`w` as float64 blocks (SpecError when the method does not cover its shape)."""
    if not decomposable(tuple(w.shape), cfg.basis_size):
        raise SpecError("smartexchange", f"a weight of shape {tuple(w.shape)} is not "
                        "decomposable (conv weights are 4-D, FC weights 2-D)")
    return to_blocks(np.asarray(w, dtype=np.float64), cfg)


def decompose(w: np.ndarray, cfg: SmartExchangeConfig = SmartExchangeConfig()) -> Decomposition:
    """Return the SmartExchange decomposition of one layer's weight tensor."""
    blk = _checked_blocks(w, cfg)
    x = blk.x
    # blocks are independent: iterate a chunk of them at a time, so the arrays of every
    # pass stay in cache (the same numbers as all blocks at once, much faster)
    ce = np.empty_like(x)
    it = 0
    for s in range(0, len(x), CHUNK_BLOCKS):
        ce[s:s + CHUNK_BLOCKS], i = _iterate(x[s:s + CHUNK_BLOCKS], cfg)
        it = max(it, i)
    ce = quantise_pow2(_sparsify(ce, cfg), cfg)
    # B is stored at basis_bits (one scale per layer): the network computes with that
    basis = uniform_quantise(_fit_basis(ce, x), cfg.basis_bits)
    return Decomposition(ce, basis, blk, it)


#: blocks iterated together (a few MiB of working arrays: cache-sized, and enough
#: blocks per numpy call that the per-call overhead does not show)
CHUNK_BLOCKS = 512


def _iterate(x: np.ndarray, cfg: SmartExchangeConfig) -> tuple[np.ndarray, int]:
    """The algorithm's loop over blocks `x` (n, rows, S): the continuous, sparsified Ce
    each block ends with, and the last iteration any block ran."""
    n, _, S = x.shape
    basis = np.broadcast_to(np.eye(S), (n, S, S)).copy()
    ce = x.copy()
    prev = np.zeros_like(ce)
    active = np.ones(n, dtype=bool)
    it = 0
    for it in range(1, cfg.max_iter + 1):
        idx = np.flatnonzero(active)
        every = len(idx) == n      # all blocks still iterate: whole arrays, no gathers
        q = quantise_pow2(ce if every else ce[idx], cfg)
        before = prev if every else prev[idx]
        if it == 1:
            done = np.zeros(len(idx), dtype=bool)
        else:
            # quantised values are exact powers of two: a change is either 0 or >= the
            # smallest level, so comparing for equality is the Frobenius test
            done = ~(q != before).any(axis=(1, 2)) if cfg.tol < 1e-6 else \
                ((q - before) ** 2).sum(axis=(1, 2)) <= cfg.tol ** 2
        if every:
            prev = q
        else:
            prev[idx] = q
        active[idx[done]] = False
        if done.any():
            idx, q, every = idx[~done], q[~done], False
        if not len(idx):
            break
        xs = x if every else x[idx]
        b = _fit_basis(q, xs)
        c = _sparsify(_fit_coeffs(b, xs), cfg)
        if every:
            basis, ce = b, c
        else:
            basis[idx] = b
            ce[idx] = c
    return ce, it


def decompose_reference(w: np.ndarray,
                        cfg: SmartExchangeConfig = SmartExchangeConfig()) -> Decomposition:
    """The same algorithm written plainly, one block at a time with least-squares solves
    (`np.linalg.lstsq`), as the paper states it (REFERENCE.md 1.2): the baseline that
    `benchmarks/decompose_speed.py` times `decompose` against. Per block: B = I, Ce =
    X; repeat: quantise Ce, stop when it no longer changes, fit B given the quantised
    Ce, fit Ce given B, sparsify; then quantise, re-fit B, and quantise every B with
    one scale per layer. Solves differ from `decompose`'s normal equations only in
    rounding, so densities and errors agree closely, not bit for bit."""
    blk = _checked_blocks(w, cfg)
    x = blk.x
    n, _, S = x.shape
    ce_out = np.empty_like(x)
    basis_out = np.empty((n, S, S))
    iterations = 0
    for i in range(n):
        X = x[i]
        C = X.copy()
        prev = None
        for it in range(1, cfg.max_iter + 1):
            Q = quantise_pow2(C[None], cfg)[0]
            if prev is not None and np.sum((Q - prev) ** 2) <= cfg.tol ** 2:
                break
            prev = Q
            B = np.linalg.lstsq(Q, X, rcond=None)[0]               # min ||X - Q B||
            C = np.linalg.lstsq(B.T, X.T, rcond=None)[0].T         # min ||X - C B||
            C = _sparsify(C[None], cfg)[0]
            iterations = max(iterations, it)
        C = quantise_pow2(_sparsify(C[None].copy(), cfg), cfg)[0]
        ce_out[i] = C
        basis_out[i] = np.linalg.lstsq(C, X, rcond=None)[0]
    return Decomposition(ce_out, uniform_quantise(basis_out, cfg.basis_bits), blk, iterations)
