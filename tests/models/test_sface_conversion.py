"""The SFace conversion (fold block-quantised weights, PRelu -> Relu + a*Min(x, 0)) keeps the outputs
of the shipped graph on real faces, and is deterministic (the manifest's sha256 pins it)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edge_agent.vision.align import align_face
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image
from models.cache import sha256_file
from models.onnx_fold import fold_dequant_prelu


def _session(path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3  # the shipped graph lists its weights as inputs: one warning each
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def sface_files(model_store):
    model_store.fetch(["sface"])  # not a default model: fetched here (a no-op once verified)
    return model_store.source("sface"), model_store.path("sface")


@pytest.fixture(scope="module")
def faces(model_store):
    analyzer = FaceAnalyzer.from_store(model_store)
    crops = []
    for path in model_store.samples("face_recognition").values():
        img = load_image(path)
        crops.append(align_face(img, analyzer.detect(img)[0].landmarks))
    return np.stack(crops)


def test_converted_graph_matches_the_shipped_one_on_real_faces(sface_files, faces):
    source, converted = sface_files
    original, folded = _session(source), _session(converted)
    assert [i.name for i in folded.get_inputs()] == ["data"]
    blob = faces.astype(np.float32).transpose(0, 3, 1, 2)  # BGR, raw 0-255: the graph normalises
    ref = []
    for x in blob:  # the shipped graph has a fixed batch of 1 and its (unused) weight names as inputs
        feed = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
                for i in original.get_inputs()}
        feed["data"] = x[None]
        ref.append(original.run(None, feed)[0][0])
    ref = np.stack(ref)
    out = folded.run(None, {"data": np.ascontiguousarray(blob)})[0]  # batch of 4 in one run
    assert out.shape == ref.shape == (4, 128)
    assert np.abs(out - ref).max() < 1e-3 * np.abs(ref).max()
    cos = np.einsum("ij,ij->i", out, ref) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.99999


def test_conversion_is_deterministic(sface_files, tmp_path):
    source, converted = sface_files
    fold_dequant_prelu(source, tmp_path / "again.onnx")
    assert sha256_file(tmp_path / "again.onnx") == sha256_file(converted)
    ops = {n.op_type for n in __import__("onnx").load(str(tmp_path / "again.onnx")).graph.node}
    assert "DequantizeLinear" not in ops and "PRelu" not in ops and {"Relu", "Min"} <= ops
