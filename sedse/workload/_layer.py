"""Layers as 8-dimensional loop nests.

Every layer is the loop nest

    for n, g, k, c, p, q, r, s:
        O[n, g, k, p, q] += W[g, k, c, r, s] * I[n, g, c, p*Uh + r*Dh, q*Uw + s*Dw]

with N batch, G groups, K output channels per group, C input channels per group,
P x Q output size, R x S kernel size, U stride and D dilation. A plain convolution has
G = 1, a depthwise one G = channels and K = C = 1, a fully connected layer
P = Q = R = S = 1, and a matmul A(M x L) @ B(L x J) is N = batch, P = M, C = L, K = J
(B is the "weight" operand). The input extent is derived from the output
(``(P - 1) * Uh + (R - 1) * Dh + 1`` rows, fewer when a
stride skips rows), so padding does not appear in the loop nest;
it is kept only to describe the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sedse._yaml import short_number
from sedse.errors import InvalidValue
from sedse.workload._encoding import MAX_ENCODING_INT, WeightEncoding

DIMS: tuple[str, ...] = ("N", "G", "K", "C", "P", "Q", "R", "S")
#: Position of each dim in `DIMS` (the row of a dim in every per-dim array).
DIM_INDEX: dict[str, int] = {d: i for i, d in enumerate(DIMS)}
OPERANDS: tuple[str, ...] = ("W", "I", "O")
KINDS: tuple[str, ...] = ("conv", "fc", "matmul")

#: Dims each operand is indexed by (P, Q, R, S index the input through the window).
RELEVANT: dict[str, frozenset[str]] = {
    "W": frozenset({"G", "K", "C", "R", "S"}),
    "I": frozenset({"N", "G", "C", "P", "Q", "R", "S"}),
    "O": frozenset({"N", "G", "K", "P", "Q"}),
}
#: Dims summed over into one output (not indexing it): unrolling them spatially needs a
#: network that reduces partial sums.
REDUCTION_DIMS: tuple[str, ...] = tuple(d for d in DIMS if d not in RELEVANT["O"])


def input_extent(out, kernel, stride, dilation):
    """Input rows (columns) touched by `out` output rows and `kernel` kernel rows: the
    sliding window ``(out - 1) * stride + (kernel - 1) * dilation + 1``, or ``out *
    kernel`` when a stride larger than the window skips rows (exact whenever stride or
    dilation is 1, an upper bound otherwise). Works on ints and on numpy arrays of
    extents alike (the one definition every tile footprint uses)."""
    if stride == 1 and dilation == 1:
        # out + kernel - 1 <= out x kernel for extents >= 1: the minimum is the window
        return out + kernel - 1
    return np.minimum((out - 1) * stride + (kernel - 1) * dilation + 1, out * kernel)


#: Largest `Layer.work` accepted. Every action count of a mapping is at most the
#: padded iteration count (<= 4x MACs: spatial padding is capped at 15% per dim and
#: pinned factors at twice the dim) times the input-window factor, so counts stay
#: <= 2^50 and counts x bits (<= 64) x instances stay within int64 (2^63); beyond it a
#: layer is refused in one line instead of wrapping silently.
MAX_LAYER_WORK = 2**48


@dataclass(frozen=True)
class Layer:
    """One layer of a workload, sizes in elements, precisions in bits."""

    name: str
    kind: str = "conv"
    N: int = 1
    G: int = 1
    K: int = 1
    C: int = 1
    P: int = 1
    Q: int = 1
    R: int = 1
    S: int = 1
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    input_bits: int = 16
    weight_bits: int = 16
    output_bits: int = 16
    #: True when the W operand is itself an activation (matmul of two activations).
    weight_is_activation: bool = False
    #: Fraction of zeros in the input / output feature map (for run-length coding).
    input_zero_frac: float = 0.0
    output_zero_frac: float = 0.0
    #: Fraction of input rows (R-long kernel-row windows of one channel) that are all
    #: zero, what a row-skipping index selector skips.
    input_zero_row_frac: float = 0.0
    #: Mean non-zero Booth (non-adjacent form) digits per input value / input bits,
    #: the work of a bit-serial MAC. None: the stated default (1 - input_zero_frac) / 3,
    #: the expected NAF density of uniformly random non-zero values.
    input_nonzero_bit_frac: float | None = None
    #: How the weights are stored (None: dense at weight_bits).
    weight_encoding: WeightEncoding | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidValue(f"layer {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        for d in (*DIMS, "stride_h", "stride_w", "dilation_h", "dilation_w",
                  "input_bits", "weight_bits", "output_bits"):
            v = getattr(self, d)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidValue(f"layer {self.name}: {d} must be an integer >= 1, got {v!r}")
        for d in ("input_zero_frac", "output_zero_frac", "input_zero_row_frac",
                  "input_nonzero_bit_frac"):
            v = getattr(self, d)
            if v is None and d == "input_nonzero_bit_frac":
                continue
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise InvalidValue(f"layer {self.name}: {d} must be in [0, 1], got {v!r}")
        for d in ("input_bits", "weight_bits", "output_bits"):
            if getattr(self, d) > 64:
                raise InvalidValue(f"layer {self.name}: {d} must be <= 64, got {getattr(self, d)}")
        if self.work > MAX_LAYER_WORK or self.operand_elements("I") > MAX_LAYER_WORK \
                or self.operand_elements("O") > MAX_LAYER_WORK:
            raise InvalidValue(
                f"layer {self.name}: {short_number(self.macs)} MACs ({short_number(self.work)} "
                "with the stride and "
                f"dilation window factor) is beyond the 2^48 the 64-bit counts allow; use a "
                "smaller batch")
        if self.weight_encoding is None and \
                self.operand_elements("W") * self.weight_bits > MAX_ENCODING_INT:
            raise InvalidValue(   # the dense encoding derived from it would be refused
                f"layer {self.name}: {short_number(self.operand_elements('W'))} weights x "
                f"{self.weight_bits} bits is beyond the 2^40 bits a layer's weights may have")
        for d in ("pad_h", "pad_w"):
            v = getattr(self, d)
            if not isinstance(v, int) or v < 0:
                raise InvalidValue(f"layer {self.name}: {d} must be an integer >= 0, got {v!r}")

    # ---- sizes ----------------------------------------------------------------------
    @property
    def work(self) -> int:
        """MACs x the input-window factor ((stride + dilation) / 2 per spatial axis, at
        least 1): an upper bound on any operand's access count per mapping iteration,
        up to padding. `MAX_LAYER_WORK` bounds it (see there)."""
        fh = max(1, (self.stride_h + self.dilation_h) // 2)
        fw = max(1, (self.stride_w + self.dilation_w) // 2)
        return self.macs * fh * fw

    @property
    def dims(self) -> dict[str, int]:
        return {d: getattr(self, d) for d in DIMS}

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (exact, no padding)."""
        n = 1
        for d in DIMS:
            n *= getattr(self, d)
        return n

    @property
    def input_h(self) -> int:
        """Input rows touched by the windows (padding rows included; rows skipped by a
        stride larger than the window excluded): `input_extent` of P and R."""
        return int(input_extent(self.P, self.R, self.stride_h, self.dilation_h))

    @property
    def input_w(self) -> int:
        return int(input_extent(self.Q, self.S, self.stride_w, self.dilation_w))

    def operand_elements(self, operand: str) -> int:
        """Elements of one operand tensor (the input counted over the touched window)."""
        if operand == "W":
            return self.G * self.K * self.C * self.R * self.S
        if operand == "O":
            return self.N * self.G * self.K * self.P * self.Q
        if operand == "I":
            return self.N * self.G * self.C * self.input_h * self.input_w
        raise ValueError(f"unknown operand {operand!r}")

    def operand_bits(self, operand: str) -> int:
        return {"W": self.weight_bits, "I": self.input_bits, "O": self.output_bits}[operand]

    @property
    def encoding(self) -> WeightEncoding:
        """The weight encoding (dense at weight_bits when none was given)."""
        if self.weight_encoding is not None:
            return self.weight_encoding
        return WeightEncoding.dense(self.operand_elements("W"), self.weight_bits)

    @property
    def nonzero_bit_frac(self) -> float:
        """`input_nonzero_bit_frac`, or its stated default."""
        if self.input_nonzero_bit_frac is not None:
            return self.input_nonzero_bit_frac
        return (1.0 - self.input_zero_frac) / 3.0

    def with_batch(self, n: int) -> Layer:
        """Return the layer at batch `n` (matmuls scale their batch the same way)."""
        return replace(self, N=n)

    def shape_key(self) -> tuple:
        """Everything the cost model depends on (the name excluded), for caching."""
        return (self.kind, *(getattr(self, d) for d in DIMS), self.stride_h, self.stride_w,
                self.dilation_h, self.dilation_w, self.input_bits, self.weight_bits,
                self.output_bits, self.input_zero_frac, self.output_zero_frac,
                self.input_zero_row_frac, self.input_nonzero_bit_frac, self.weight_encoding)


@dataclass(frozen=True)
class Workload:
    """An ordered tuple of layers, the unit `sedse eval` reports on."""

    name: str
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [layer.name for layer in self.layers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InvalidValue(f"workload {self.name}: duplicate layer names {sorted(dup)}")

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def with_batch(self, n: int) -> Workload:
        return Workload(self.name, tuple(layer.with_batch(n) for layer in self.layers))

    def with_precision(self, input_bits: int, weight_bits: int, output_bits: int) -> Workload:
        return Workload(self.name, tuple(
            replace(layer, input_bits=input_bits, weight_bits=weight_bits,
                    output_bits=output_bits) for layer in self.layers))

    def with_layer_fields(self, per_layer: dict[str, dict]) -> Workload:
        """Return the workload with `Layer` fields replaced per layer name (e.g.
        ``{"conv1": {"weight_encoding": enc, "input_zero_frac": 0.4}}``); KeyError for a
        name the workload does not have."""
        names = {layer.name for layer in self.layers}
        unknown = sorted(set(per_layer) - names)
        if unknown:
            raise KeyError(f"workload {self.name} has no layer {unknown[0]!r}")
        return Workload(self.name, tuple(replace(layer, **per_layer.get(layer.name, {}))
                                         for layer in self.layers))
