"""Storage accounting of compressed weights (bits), and the `WeightEncoding` it yields.

SmartExchange (REFERENCE 1.4): B entries at `basis_bits` (plus one 32-bit scale per
layer), Ce entries at `ce_bits`
(sign + exponent code). Index schemes for Ce:

* ``direct`` (the paper): 1 bit per Ce row says whether the row is stored; stored rows
  keep all S entries (zeros as the zero code);
* ``csr``: every non-zero with its column index (ceil(log2 S) bits) plus one row pointer
  per row and block of ceil(log2(rows x S + 1)) bits;
* ``rle``: every non-zero with a 4-bit run of preceding zeros (runs over 15 add a
  zero entry), over each block's entries in row-major order.

Only real rows count (the padding rows of the last block of a filter are not stored).
Rebuilding a weight row from a Ce row with n non-zeros takes S * n shifts and
S * (n - 1) adds (REFERENCE 1.5), i.e. 2n - 1 operations per rebuilt weight.
"""

from __future__ import annotations

import math

import numpy as np

from sedse.workload import WeightEncoding

INDEX_SCHEMES = ("direct", "csr", "rle")
RLE_RUN_BITS = 4
BASIS_SCALE_BITS = 32   # B is quantised with one 32-bit scale per layer


def smartexchange_encoding(ce: np.ndarray, valid: np.ndarray, *, ce_bits: int,
                           basis_bits: int, dense_weights: int,
                           index: str = "direct") -> WeightEncoding:
    """Storage of a decomposition: `ce` (n_blocks, rows, S), `valid` (n_blocks, rows)."""
    n_blocks, rows, S = ce.shape
    nz = ce != 0
    nz_per_row = nz.sum(axis=2)[valid]                 # real rows only
    n_rows = int(valid.sum())
    nnz = int(nz_per_row.sum())
    stored_rows = int((nz_per_row > 0).sum())
    basis = n_blocks * S * S * basis_bits + BASIS_SCALE_BITS
    if index == "direct":
        coeff = stored_rows * S * ce_bits
        idx = n_rows
    elif index == "csr":
        coeff = nnz * ce_bits
        idx = nnz * math.ceil(math.log2(S)) + \
            (n_rows + n_blocks) * math.ceil(math.log2(rows * S + 1))
    elif index == "rle":
        flat = np.where(valid[:, :, None], ce, 0).reshape(n_blocks, -1)
        extra = 0
        for b in range(n_blocks):   # long zero runs need filler entries
            pos = np.flatnonzero(flat[b])
            gaps = np.diff(np.concatenate([[-1], pos])) - 1
            extra += int((gaps // (2 ** RLE_RUN_BITS)).sum())
        coeff = (nnz + extra) * ce_bits
        idx = (nnz + extra) * RLE_RUN_BITS
    else:
        raise ValueError(f"index must be one of {INDEX_SCHEMES}, got {index!r}")
    ops = float((2 * nz_per_row[nz_per_row > 0] - 1).sum() * S) / max(dense_weights, 1)
    return WeightEncoding(
        method=f"smartexchange/{index}",
        coefficient_density_frac=nnz / max(n_rows * S, 1),
        zero_row_frac=1.0 - stored_rows / max(n_rows, 1),
        bits_per_nonzero=float(ce_bits),
        basis_bits=basis, index_bits=idx, rebuild_ops_per_weight=ops,
        total_bits=coeff + basis + idx, dense_weights=dense_weights,
        basis_size=S, basis_entry_bits=basis_bits)
