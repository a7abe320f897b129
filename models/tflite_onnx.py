"""A small TFLite -> ONNX converter for plain float32 CNNs (the `tflite_nhwc` conversion step).

tflite2onnx 0.4.1 converts MobileFaceNet but not MTCNN's ONet: it lacks NEG / EXP / REDUCE_MAX / SUM / DIV,
and it flattens a 4-D tensor into a FULLY_CONNECTED layer in NCHW order where TFLite flattens NHWC. This
converter keeps every tensor in TFLite's own NHWC layout, so element-wise ops, broadcasts and flattening
mean exactly what they meant in TFLite; only convolutions and pools are wrapped in a pair of transposes
(onnxruntime's optimiser folds the back-to-back ones). The result is checked against the source by the
model store's sha256 like every other model. Unsupported ops raise `NotImplementedError` naming the op.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OPSET = 13
_NCHW, _NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _op_names() -> dict[int, str]:
    # lazy: tflite/onnx load only when a model is converted
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _same_pads(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis (extra pixel at the end)."""
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


class _Builder:
    def __init__(self, model, graph):
        # lazy: tflite/onnx load only when a model is converted
        import tflite

        self.tfl = tflite
        self.model, self.graph = model, graph
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.names = _op_names()
        self._uid = 0

    # ---- tensors
    def tname(self, index: int) -> str:
        return self.graph.Tensors(index).Name().decode()

    def shape(self, index: int) -> list[int]:
        t = self.graph.Tensors(index)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def const(self, index: int) -> np.ndarray | None:
        t = self.graph.Tensors(index)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        if t.Type() == self.tfl.TensorType.FLOAT32:
            dtype = np.float32
        elif t.Type() == self.tfl.TensorType.INT32:
            dtype = np.int32
        else:
            raise NotImplementedError(f"constant tensor type {t.Type()} ({self.tname(index)})")
        return np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.shape(index))

    def input(self, index: int) -> str:
        """The ONNX name of an operator input; constants become initializers on first use."""
        name = self.tname(index)
        if name not in self.inits:
            data = self.const(index)
            if data is not None:
                self.inits[name] = data
        return name

    def fresh(self, base: str) -> str:
        self._uid += 1
        return f"{base}__{self._uid}"

    def add_const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.inits[name] = value
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        # lazy: tflite/onnx load only when a model is converted
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.fresh(outputs[0]), **attrs))

    def activation(self, fused: int, x: str, out: str) -> None:
        act = self.tfl.ActivationFunctionType
        if fused == act.NONE:
            self.node("Identity", [x], [out])
        elif fused == act.RELU:
            self.node("Relu", [x], [out])
        elif fused == act.RELU6:
            self.node("Clip", [x, self.add_const("min", np.array(0, np.float32)),
                               self.add_const("max", np.array(6, np.float32))], [out])
        else:
            raise NotImplementedError(f"fused activation {fused}")

    @staticmethod
    def options(op, cls):
        opts = cls()
        table = op.BuiltinOptions()
        if table is not None:
            opts.Init(table.Bytes, table.Pos)
        return opts

    # ---- operators
    def convert(self, op) -> None:
        tfl = self.tfl
        code = self.model.OperatorCodes(op.OpcodeIndex())
        name = self.names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        ins = [op.Inputs(i) for i in range(op.InputsLength())]
        out = self.tname(op.Outputs(0))
        unary = {"RELU": "Relu", "NEG": "Neg", "EXP": "Exp", "ABS": "Abs", "SQRT": "Sqrt", "LOGISTIC": "Sigmoid"}
        binary = {"ADD": ("Add", tfl.AddOptions), "SUB": ("Sub", tfl.SubOptions), "MUL": ("Mul", tfl.MulOptions),
                  "DIV": ("Div", tfl.DivOptions)}
        if name in unary:
            self.node(unary[name], [self.input(ins[0])], [out])
        elif name in binary:
            onnx_op, cls = binary[name]
            tmp = self.fresh(out)
            self.node(onnx_op, [self.input(ins[0]), self.input(ins[1])], [tmp])
            self.activation(self.options(op, cls).FusedActivationFunction(), tmp, out)
        elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            self._conv(op, name, ins, out)
        elif name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            self._pool(op, name, ins, out)
        elif name == "FULLY_CONNECTED":
            self._fully_connected(op, ins, out)
        elif name in ("REDUCE_MAX", "SUM", "MEAN"):
            axes = [int(a) for a in np.atleast_1d(self.const(ins[1]))]
            keep = int(self.options(op, tfl.ReducerOptions).KeepDims())
            if name == "SUM":
                self.node("ReduceSum", [self.input(ins[0]), self.add_const("axes", np.array(axes, np.int64))], [out],
                          keepdims=keep)
            else:
                self.node("ReduceMax" if name == "REDUCE_MAX" else "ReduceMean", [self.input(ins[0])], [out],
                          axes=axes, keepdims=keep)
        elif name == "SOFTMAX":
            self.node("Softmax", [self.input(ins[0])], [out], axis=-1)
        elif name == "RESHAPE":
            shape = np.array(self.shape(op.Outputs(0)), np.int64)
            shape[0] = 0  # keep the (dynamic) batch
            self.node("Reshape", [self.input(ins[0]), self.add_const("shape", shape)], [out])
        else:
            raise NotImplementedError(f"TFLite op {name} is not supported by the tflite_nhwc converter")

    def _conv(self, op, name, ins, out) -> None:
        tfl = self.tfl
        depthwise = name == "DEPTHWISE_CONV_2D"
        o = self.options(op, tfl.DepthwiseConv2DOptions if depthwise else tfl.Conv2DOptions)
        w = self.const(ins[1])
        if w is None:
            raise NotImplementedError(f"{name} with non-constant weights")
        _, h, wd, _ = self.shape(ins[0]) if len(self.shape(ins[0])) == 4 else (None, None, None, None)
        kh, kw = w.shape[1], w.shape[2]
        if depthwise:
            channels = self.shape(ins[0])[3]
            weight = w.transpose(3, 0, 1, 2)  # (1, kh, kw, C*m) -> (C*m, 1, kh, kw)
            group = channels
        else:
            weight = w.transpose(0, 3, 1, 2)  # (O, kh, kw, I) -> (O, I, kh, kw)
            group = 1
        sh, sw = o.StrideH(), o.StrideW()
        dh, dw = o.DilationHFactor() or 1, o.DilationWFactor() or 1
        pads = [0, 0, 0, 0]
        if o.Padding() == tfl.Padding.SAME:
            top, bottom = _same_pads(h, kh, sh, dh)
            left, right = _same_pads(wd, kw, sw, dw)
            pads = [top, left, bottom, right]
        x = self.fresh(out)
        self.node("Transpose", [self.input(ins[0])], [x], perm=_NCHW)
        inputs = [x, self.add_const(self.tname(ins[1]), np.ascontiguousarray(weight))]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.input(ins[2]))
        y = self.fresh(out)
        self.node("Conv", inputs, [y], kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw], pads=pads,
                  group=group)
        z = self.fresh(out)
        self.node("Transpose", [y], [z], perm=_NHWC)
        self.activation(o.FusedActivationFunction(), z, out)

    def _pool(self, op, name, ins, out) -> None:
        tfl = self.tfl
        o = self.options(op, tfl.Pool2DOptions)
        _, h, w, _ = self.shape(ins[0])
        kh, kw, sh, sw = o.FilterHeight(), o.FilterWidth(), o.StrideH(), o.StrideW()
        pads = [0, 0, 0, 0]
        if o.Padding() == tfl.Padding.SAME:
            top, bottom = _same_pads(h, kh, sh)
            left, right = _same_pads(w, kw, sw)
            pads = [top, left, bottom, right]
        x, y, z = self.fresh(out), self.fresh(out), self.fresh(out)
        self.node("Transpose", [self.input(ins[0])], [x], perm=_NCHW)
        attrs = {"kernel_shape": [kh, kw], "strides": [sh, sw], "pads": pads}
        if name == "AVERAGE_POOL_2D":
            attrs["count_include_pad"] = 0  # TensorFlow averages over the valid pixels only
        self.node("MaxPool" if name == "MAX_POOL_2D" else "AveragePool", [x], [y], **attrs)
        self.node("Transpose", [y], [z], perm=_NHWC)
        self.activation(o.FusedActivationFunction(), z, out)

    def _fully_connected(self, op, ins, out) -> None:
        o = self.options(op, self.tfl.FullyConnectedOptions)
        x = self.input(ins[0])
        if len(self.shape(ins[0])) != 2:  # TFLite flattens the NHWC tensor: so does this reshape
            flat = self.fresh(out)
            self.node("Reshape", [x, self.add_const("flat", np.array([0, -1], np.int64))], [flat])
            x = flat
        inputs = [x, self.input(ins[1])]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.input(ins[2]))
        y = self.fresh(out)
        self.node("Gemm", inputs, [y], transB=1)
        self.activation(o.FusedActivationFunction(), y, out)


def convert_tflite(src: Path, out: Path, dynamic_batch: bool = True) -> None:
    """Convert the float32 TFLite model `src` into the ONNX file `out` (tensors and I/O kept in NHWC)."""
    # lazy: tflite/onnx load only when a model is converted
    import onnx
    import tflite
    from onnx import TensorProto, helper, numpy_helper

    model = tflite.Model.GetRootAsModel(Path(src).read_bytes(), 0)
    if model.SubgraphsLength() != 1:
        raise NotImplementedError("only single-graph TFLite models are supported")
    graph = model.Subgraphs(0)
    b = _Builder(model, graph)
    for i in range(graph.OperatorsLength()):
        b.convert(graph.Operators(i))

    def value_info(index: int):
        dims: list = b.shape(index)
        if dynamic_batch and dims:
            dims = ["N", *dims[1:]]
        return helper.make_tensor_value_info(b.tname(index), TensorProto.FLOAT, dims)

    inputs = [value_info(graph.Inputs(i)) for i in range(graph.InputsLength())]
    outputs = [value_info(graph.Outputs(i)) for i in range(graph.OutputsLength())]
    inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in sorted(b.inits.items())]
    onnx_graph = helper.make_graph(b.nodes, Path(src).stem, inputs, outputs, inits)
    onnx_model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="soctrang-edu models.tflite_onnx")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, str(out))
