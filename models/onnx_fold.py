"""The `fold_dequant_prelu` conversion step: a block-quantised ONNX model made fast on a CPU.

OpenCV Zoo ships SFace with int8 block-quantised weights (`DequantizeLinear` with `block_size`, opset 21)
that onnxruntime dequantises on every run, and with `PRelu`, which onnxruntime's CPU kernels run slowly
on NCHW tensors. This step
1. evaluates every `DequantizeLinear` of a constant (and the `Reshape` of a constant shape after it) once,
   in numpy, into an fp32 initializer with the name its consumers already use;
2. rewrites each `PRelu(x, a)` as `Relu(x) + a * Min(x, 0)` (equal for every x: x >= 0 gives x + 0,
   x < 0 gives 0 + a*x), which onnxruntime fuses into its convolution kernels;
3. drops graph inputs that are initializers or that nothing reads, and gives the input and output a
   symbolic batch dimension `N`.
The output is deterministic (initializers sorted by name), so its sha256 can be pinned in the manifest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BATCH_DIM = "N"


def _dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int) -> np.ndarray:
    """ONNX DequantizeLinear (per-tensor, per-axis or blocked) in numpy: (x - zero) * scale."""
    xf = x.astype(np.float32)
    zf = np.zeros_like(scale, dtype=np.float32) if zero is None else zero.astype(np.float32)
    if scale.size == 1:
        return (xf - zf.reshape(())) * scale.reshape(())
    axis = axis % x.ndim
    if block > 0:  # blocked: scale has ceil(dim / block) entries along `axis`
        sc = np.repeat(scale, block, axis=axis)
        zp = np.repeat(zf, block, axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, x.shape[axis])
        return (xf - zp[tuple(index)]) * sc[tuple(index)]
    shape = [1] * x.ndim
    shape[axis] = -1
    return (xf - zf.reshape(shape)) * scale.reshape(shape)


def fold_dequant_prelu(src: Path, out: Path) -> None:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers: dict[str, object] = {}
    for node in graph.node:
        for o in node.output:
            producers[o] = node
    folded: dict[str, np.ndarray] = {}
    dropped: set[int] = set()
    for i, node in enumerate(graph.node):
        if node.op_type == "DequantizeLinear" and all(n in consts or n == "" for n in node.input):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            zero = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            value = _dequantize(consts[node.input[0]], consts[node.input[1]], zero,
                                int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
            consts[node.output[0]] = folded[node.output[0]] = value.astype(np.float32)
            dropped.add(i)
        elif node.op_type == "Reshape" and node.input[0] in folded and node.input[1] in consts:
            value = folded.pop(node.input[0]).reshape(consts[node.input[1]].tolist())
            consts[node.output[0]] = folded[node.output[0]] = value
            dropped.add(i)
    nodes = []
    zero_name = "prelu_fold_zero"
    for i, node in enumerate(graph.node):
        if i in dropped:
            continue
        if node.op_type == "PRelu":
            x, slope = node.input
            y = node.output[0]
            nodes += [helper.make_node("Relu", [x], [f"{y}__pos"], name=f"{y}__relu"),
                      helper.make_node("Min", [x, zero_name], [f"{y}__neg"], name=f"{y}__min"),
                      helper.make_node("Mul", [f"{y}__neg", slope], [f"{y}__scaled"], name=f"{y}__mul"),
                      helper.make_node("Add", [f"{y}__pos", f"{y}__scaled"], [y], name=f"{y}__add")]
            folded.setdefault(zero_name, np.zeros((), np.float32))
        else:
            nodes.append(node)
    used = {n for node in nodes for n in node.input} | {o.name for o in graph.output}
    keep = {t.name: t for t in graph.initializer if t.name in used}
    for name, value in folded.items():
        if name in used:
            keep[name] = numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)
    inputs = [v for v in graph.input if v.name not in keep and v.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(keep[k] for k in sorted(keep))
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]
    for value in list(graph.input) + list(graph.output):
        dim0 = value.type.tensor_type.shape.dim[0]
        dim0.ClearField("dim_value")
        dim0.dim_param = BATCH_DIM
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
