"""The layer as the PE array sees it (a dataflow may lower it before mapping)."""

from __future__ import annotations

from dataclasses import replace

from sedse.hardware import Accelerator
from sedse.workload import Layer


def array_layer(layer: Layer, acc: Accelerator) -> Layer:
    """`layer` lowered the way `acc`'s dataflow feeds its array.

    With ``im2col: true`` a convolution becomes the matrix product its im2col lowering
    computes: the reduction dims R x S x C flatten onto one dim C (so R*S*C can fill the
    array rows in one run, as SCALE-Sim maps it), R = S = 1, stride, dilation 1 and no
    padding; the input is the im2col matrix, P x Q rows of R*S*C values, window overlaps
    and padding zeros included. MACs, weights and outputs are unchanged. Idempotent.
    """
    df = acc.dataflow
    if df is None or not df.im2col:
        return layer
    if layer.R == 1 and layer.S == 1 and layer.stride_h == layer.stride_w == 1 and \
            layer.pad_h == layer.pad_w == 0 and layer.dilation_h == layer.dilation_w == 1:
        return layer
    return replace(layer, C=layer.C * layer.R * layer.S, R=1, S=1, stride_h=1, stride_w=1,
                   dilation_h=1, dilation_w=1, pad_h=0, pad_w=0)
