"""Conversion steps named in the manifest: `none` (copy), `tflite2onnx` (with a dynamic batch),
`tflite_nhwc` (models/tflite_onnx.py, for the plain CNNs tflite2onnx cannot convert) and
`fold_dequant_prelu` (models/onnx_fold.py: block-quantised ONNX weights folded to fp32, PRelu rewritten)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from models.errors import ModelStoreError
from models.tflite_onnx import convert_tflite

BATCH_DIM = "N"


def _register_leaky_relu() -> None:
    """tflite2onnx 0.4.1 lacks LEAKY_RELU (used by the anti-spoofing model): add a converter for it."""
    # lazy: the converters (tflite, tflite2onnx, onnx) load only when a model is converted
    import tflite
    from tflite2onnx.op.common import Operator, OpFactory

    if tflite.BuiltinOperator.LEAKY_RELU in OpFactory.registry:
        return

    class LeakyRelu(Operator):
        TypeMapping = {tflite.BuiltinOperator.LEAKY_RELU: "LeakyRelu"}

        def __init__(self, TFactory, index):  # noqa: N803 (tflite2onnx's signature)
            super().__init__(TFactory, index)
            self.setInited()

        @property
        def type(self):
            return "LeakyRelu"

        def parse(self):
            op = self.tflite
            if op.InputsLength() != 1 or op.OutputsLength() != 1:
                raise ValueError("LEAKY_RELU takes one input and one output")
            options = tflite.LeakyReluOptions()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            self.attrs["alpha"] = float(options.Alpha())
            self.parseInput(0)
            self.parseOutput(0)
            self.setParsed()

        def propagatableTensors(self):
            return self.inputs + self.outputs

        def transform(self):
            pass

    OpFactory.register(LeakyRelu)


def finish_conversion(model_path: Path, dynamic_batch: bool) -> None:
    """Make a converted model reproducible (sorted initializers: tflite2onnx emits them in set order,
    so the sha256 would change from run to run) and optionally give it a symbolic batch dimension."""
    # lazy: the converters (tflite, tflite2onnx, onnx) load only when a model is converted
    import onnx

    model = onnx.load(str(model_path))
    inits = sorted(model.graph.initializer, key=lambda t: t.name)
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    if dynamic_batch:
        _make_batch_dynamic(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(model_path))


def _make_batch_dynamic(model) -> None:
    """Turn the fixed batch dimension of a converted model into a symbolic one (`N`)."""
    # lazy: the converters (tflite, tflite2onnx, onnx) load only when a model is converted
    from onnx import numpy_helper

    graph = model.graph
    fixed = graph.input[0].type.tensor_type.shape.dim[0].dim_value
    for value in list(graph.input) + list(graph.output):
        dim0 = value.type.tensor_type.shape.dim[0]
        dim0.ClearField("dim_value")
        dim0.dim_param = BATCH_DIM
    inits = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[1] not in inits:
            continue
        shape = numpy_helper.to_array(inits[node.input[1]]).copy()
        if shape.ndim == 1 and len(shape) == 2 and shape[0] == fixed:
            shape[0] = -1
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    del graph.value_info[:]


def convert(name: str, step: str, src: Path, out: Path, dynamic_batch: bool) -> None:
    if step == "none":
        shutil.copyfile(src, out)
        return
    if step == "fold_dequant_prelu":
        try:
            from models.onnx_fold import fold_dequant_prelu

            fold_dequant_prelu(src, out)
        except Exception as exc:  # a malformed file or a graph the folding does not expect
            raise ModelStoreError(name, f"conversion {step} failed: {type(exc).__name__}: {exc}") from exc
        return
    if step not in ("tflite2onnx", "tflite_nhwc"):
        raise ModelStoreError(name, f"unknown conversion step {step!r}")
    if step == "tflite_nhwc":
        try:
            convert_tflite(src, out, dynamic_batch)
        except Exception as exc:  # a malformed file or an op the converter does not know
            raise ModelStoreError(name, f"conversion {step} failed: {type(exc).__name__}: {exc}") from exc
        return
    try:
        # lazy: the converters (tflite, tflite2onnx, onnx) load only when a model is converted
        import tflite2onnx

        _register_leaky_relu()
        logging.getLogger("tflite2onnx").setLevel(logging.WARNING)
        tflite2onnx.convert(str(src), str(out))
        finish_conversion(out, dynamic_batch)
    except ModelStoreError:
        raise
    except Exception as exc:  # the converter raises bare asserts and NotImplementedError
        raise ModelStoreError(name, f"conversion {step} failed: {type(exc).__name__}: {exc}") from exc
