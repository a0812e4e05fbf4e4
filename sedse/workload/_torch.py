"""Workload extraction from any `torch.nn.Module` by tracing at the ATen level.

The model runs once on meta tensors (no memory, no arithmetic) under a
`TorchDispatchMode` that records every convolution and matrix product the model
executes, whether it comes from an `nn.Conv2d`/`nn.Linear` module or from a functional
call such as ``q @ k.transpose(-1, -2)``. Forward hooks keep the stack of module names,
so layers are named after the module that ran them. If the model cannot run on meta
tensors it is run once on zero-valued CPU tensors instead.

Recorded: ``aten.convolution`` (1-D and 2-D, grouped, dilated; transposed convolutions
are skipped with a warning), ``aten.mm``/``addmm`` (fully connected or matmul),
``aten.bmm``/``baddbmm`` (batched matmul). A product counts as ``fc`` when it runs
directly inside an ``nn.Linear`` module, otherwise as ``matmul`` between activations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sedse.errors import SedseError
from sedse.workload._layer import Layer, Workload

log = logging.getLogger(__name__)


def from_torch(
    model, input_shape: Sequence[int], *, name: str = "model", input_bits: int = 16,
    weight_bits: int = 16, output_bits: int = 16,
) -> Workload:
    """Return the workload (conv, fc and matmul layers in execution order) of `model`.

    `input_shape` includes the batch dimension, e.g. ``(1, 3, 224, 224)``.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    records: list[Layer] = []
    stack: list[tuple[str, object]] = []
    counts: dict[str, int] = {}
    bits: dict[str, Any] = {"input_bits": input_bits, "weight_bits": weight_bits,
                            "output_bits": output_bits}

    def layer_name() -> str:
        base = stack[-1][0] if stack else "op"
        counts[base] = counts.get(base, 0) + 1
        return base if counts[base] == 1 else f"{base}#{counts[base]}"

    def in_linear() -> bool:
        return bool(stack) and isinstance(stack[-1][1], torch.nn.Linear)

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            packet = getattr(func, "overloadpacket", None)
            if packet is aten.convolution:
                _record_conv(args)
            elif packet in (aten.mm, aten.addmm):
                a, b = (args[0], args[1]) if packet is aten.mm else (args[1], args[2])
                _record_mm(1, a.shape[0], a.shape[1], b.shape[1])
            elif packet in (aten.bmm, aten.baddbmm):
                a, b = (args[0], args[1]) if packet is aten.bmm else (args[1], args[2])
                _record_mm(a.shape[0], a.shape[1], a.shape[2], b.shape[2])
            return func(*args, **kwargs)

    def _record_conv(args) -> None:
        x, w = args[0], args[1]
        stride, padding, dilation, transposed, groups = args[3], args[4], args[5], args[6], args[8]
        if transposed:
            log.warning("%s: transposed convolution skipped (not modelled)", layer_name())
            return
        if x.dim() == 3:  # conv1d: treat as H = 1
            stride, padding, dilation = (1, *stride), (0, *padding), (1, *dilation)
            n, c_in, w_in = x.shape
            h_in, r, s = 1, 1, w.shape[2]
        elif x.dim() == 4:
            n, c_in, h_in, w_in = x.shape
            r, s = w.shape[2], w.shape[3]
        else:
            raise SedseError(f"{name}: {x.dim() - 2}-D convolutions are not supported")
        k_total = w.shape[0]
        p = (h_in + 2 * padding[0] - dilation[0] * (r - 1) - 1) // stride[0] + 1
        q = (w_in + 2 * padding[1] - dilation[1] * (s - 1) - 1) // stride[1] + 1
        records.append(Layer(
            name=layer_name(), kind="conv", N=int(n), G=int(groups),
            K=int(k_total // groups), C=int(c_in // groups), P=int(p), Q=int(q),
            R=int(r), S=int(s), stride_h=int(stride[0]), stride_w=int(stride[1]),
            dilation_h=int(dilation[0]), dilation_w=int(dilation[1]),
            pad_h=int(padding[0]), pad_w=int(padding[1]), **bits))

    def _record_mm(batch: int, m: int, l_: int, j: int) -> None:
        fc = in_linear()
        records.append(Layer(
            name=layer_name(), kind="fc" if fc else "matmul", N=int(batch) * (int(m) if fc else 1),
            P=1 if fc else int(m), K=int(j), C=int(l_), weight_is_activation=not fc, **bits))

    def pre_hook(mod, _inp, qualname=""):
        stack.append((qualname, mod))

    def post_hook(_mod, _inp, _out):
        stack.pop()

    handles = []
    for qualname, mod in model.named_modules():
        handles.append(mod.register_forward_pre_hook(
            lambda m, i, q=qualname or "model": pre_hook(m, i, q)))
        handles.append(mod.register_forward_hook(post_hook))
    try:
        was_training = model.training
        model.eval()
        try:
            meta_model = _to_meta(model)
            x = torch.empty(tuple(input_shape), device="meta")
            with torch.no_grad(), Recorder():
                meta_model(x)
        except (NotImplementedError, RuntimeError) as exc:
            log.info("meta tracing failed (%s); tracing on CPU", exc)
            records.clear()
            counts.clear()
            stack.clear()
            with torch.no_grad(), Recorder():
                model(torch.zeros(tuple(input_shape)))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    if not records:
        raise SedseError(f"{name}: tracing found no convolution or matrix product")
    return Workload(name, tuple(records))


def _to_meta(model):
    """Return `model` itself moved to the meta device when it has no weights loaded,
    else a meta copy (so a trained model is not disturbed)."""
    import copy

    import torch

    clone = copy.deepcopy(model) if any(p.device.type != "meta" for p in model.parameters()) \
        else model
    # The hooks are registered on the original modules; deepcopy copies them too.
    return clone.to(torch.device("meta"))
