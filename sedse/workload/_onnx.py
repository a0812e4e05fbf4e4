"""Workload extraction from an ONNX model (the `onnx` package; `pip install onnx`).

The same layer kinds as tracing a torch module (`from_torch`): ``Conv`` (1-D and 2-D,
grouped, depthwise, dilated), ``Gemm`` and ``MatMul`` with a constant weight (``fc``),
and ``MatMul`` between two activations (``matmul``). Shapes come from ONNX shape
inference. Layers are named after the module path an exporter writes into the node
name (``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``, as `from_torch` names
them), else after the node.

The file is read with ``onnx.load`` (protobuf: no code runs) and checked for size first;
a malformed or unsupported model is a one-line SpecError naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sedse.errors import SpecError
from sedse.workload._layer import Layer, Workload

MAX_ONNX_BYTES = 2**31     # protobuf's own limit for one file


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def module_path(node_name: str) -> str:
    """The module path a torch exporter writes into a node name: scopes are separated
    by "/", the last part is the op, and a scope that extends the one before it with
    ".suffix" (a container's child: ``layer1`` then ``layer1.0``) replaces it:
    ``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``."""
    parts = [p for p in node_name.split("/") if p][:-1]
    out, prev = "", ""
    for comp in parts:
        if prev and comp.startswith(prev + "."):
            out = out[:len(out) - len(prev)] + comp
        else:
            out = f"{out}.{comp}" if out else comp
        prev = comp
    return out


def _layer_name(node, index: int, counts: dict[str, int]) -> str:
    base = module_path(node.name) or node.name or f"{node.op_type}_{index}"
    counts[base] = counts.get(base, 0) + 1
    return base if counts[base] == 1 else f"{base}#{counts[base]}"


def from_onnx(path: str | Path, *, name: str | None = None, input_bits: int = 16,
              weight_bits: int = 16, output_bits: int = 16) -> Workload:
    """Return the workload (conv, fc and matmul layers in graph order) of the ONNX model
    at `path`. Its inputs must have fixed shapes (the batch included)."""
    try:
        import onnx
    except ImportError:
        raise SpecError(str(path), "reading ONNX needs the onnx package (pip install "
                        "onnx)") from None
    p = Path(path)
    if not p.is_file():
        raise SpecError(str(p), "file not found")
    if p.stat().st_size > MAX_ONNX_BYTES:
        raise SpecError(str(p), f"{p.stat().st_size:,} bytes: larger than an ONNX file can be")
    try:
        model = onnx.load(str(p), load_external_data=False)
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:     # the protobuf and checker raise many kinds
        raise SpecError(str(p), f"not a readable ONNX model ({str(exc)[:120]})") from None
    g = model.graph
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
            shapes[vi.name] = dims
    consts = {i.name: tuple(i.dims) for i in g.initializer}
    for node in g.node:     # Constant nodes hold weights too
        if node.op_type == "Constant" and node.output:
            a = _attrs(node)
            if "value" in a:
                consts[node.output[0]] = tuple(a["value"].dims)

    def shape(x: str, node) -> tuple[int, ...]:
        s = consts.get(x) or shapes.get(x)
        if s is None or any(d <= 0 for d in s):
            raise SpecError(str(p), f"node {node.name or node.op_type}: the shape of {x!r} is "
                            "not known (export with fixed input shapes)")
        return s

    bits: dict[str, Any] = {"input_bits": input_bits, "weight_bits": weight_bits,
                            "output_bits": output_bits}
    counts: dict[str, int] = {}
    layers: list[Layer] = []
    for i, node in enumerate(g.node):
        op = node.op_type
        if op == "Conv":
            x, w = shape(node.input[0], node), shape(node.input[1], node)
            a = _attrs(node)
            nd = len(w) - 2
            if nd not in (1, 2):
                raise SpecError(str(p), f"node {node.name}: {nd}-D convolutions are not "
                                "supported")
            kshape = list(w[2:])
            strides = list(a.get("strides", [1] * nd))
            dil = list(a.get("dilations", [1] * nd))
            pads = list(a.get("pads", [0] * (2 * nd)))
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise SpecError(str(p), f"node {node.name}: auto_pad is not supported "
                                "(export with explicit pads)")
            if any(pads[j] != pads[j + nd] for j in range(nd)):
                raise SpecError(str(p), f"node {node.name}: asymmetric padding {pads} is not "
                                "modelled")
            if nd == 1:   # as from_torch: a 1-D convolution is one row
                kshape, strides, dil, pads = [1, *kshape], [1, *strides], [1, *dil], [0, *pads]
                n, c_in, w_in = x
                h_in = 1
            else:
                n, c_in, h_in, w_in = x
            groups = int(a.get("group", 1))
            r, s = kshape
            pq = [(h_in + 2 * pads[0] - dil[0] * (r - 1) - 1) // strides[0] + 1,
                  (w_in + 2 * pads[1] - dil[1] * (s - 1) - 1) // strides[1] + 1]
            layers.append(Layer(
                name=_layer_name(node, i, counts), kind="conv", N=int(n), G=groups,
                K=int(w[0] // groups), C=int(c_in // groups), P=int(pq[0]), Q=int(pq[1]),
                R=int(r), S=int(s), stride_h=int(strides[0]), stride_w=int(strides[1]),
                dilation_h=int(dil[0]), dilation_w=int(dil[1]), pad_h=int(pads[0]),
                pad_w=int(pads[1]), **bits))
        elif op == "Gemm":
            a = _attrs(node)
            x, w = shape(node.input[0], node), shape(node.input[1], node)
            m, c = (x[1], x[0]) if a.get("transA", 0) else (x[0], x[1])
            k = w[0] if a.get("transB", 0) else w[1]
            layers.append(Layer(name=_layer_name(node, i, counts), kind="fc", N=int(m),
                                K=int(k), C=int(c), **bits))
        elif op == "MatMul":
            xa, xb = node.input[0], node.input[1]
            a_s, b_s = shape(xa, node), shape(xb, node)
            if xb in consts and len(b_s) == 2:     # activations x a constant weight
                rows = math.prod(a_s[:-1])
                layers.append(Layer(name=_layer_name(node, i, counts), kind="fc",
                                    N=int(rows), K=int(b_s[1]), C=int(b_s[0]), **bits))
            else:
                if len(a_s) < 2 or len(b_s) < 2:
                    raise SpecError(str(p), f"node {node.name}: MatMul of vectors is not "
                                    "modelled")
                batch = math.prod(a_s[:-2]) if len(a_s) > 2 else 1
                layers.append(Layer(name=_layer_name(node, i, counts), kind="matmul",
                                    N=int(batch), P=int(a_s[-2]), K=int(b_s[-1]),
                                    C=int(a_s[-1]), weight_is_activation=True, **bits))
        elif op == "ConvTranspose":
            raise SpecError(str(p), f"node {node.name}: transposed convolutions are not "
                            "modelled")
    if not layers:
        raise SpecError(str(p), "no convolution or matrix product in the graph")
    try:
        return Workload(name or p.stem, tuple(layers))
    except ValueError as exc:
        raise SpecError(str(p), str(exc)) from None
