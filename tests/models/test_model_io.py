"""Every default model loads in onnxruntime with the input and output shapes its manifest entry declares."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_yunet_declares_the_four_heads_at_three_strides(model_store):
    session = _session(model_store.path("yunet"))
    (inp,) = session.get_inputs()
    assert inp.shape[:2] == [1, 3]
    names = {o.name for o in session.get_outputs()}
    assert names == {f"{h}_{s}" for h in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)}
    assert model_store.entry("yunet").io.colour == "BGR"


def test_mobilefacenet_has_dynamic_batch_and_192_d_output(model_store):
    entry = model_store.entry("mobilefacenet")
    session = _session(model_store.path("mobilefacenet"))
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert inp.shape == ["N", 3, 112, 112] and out.shape == ["N", entry.io.embedding_size]
    rng = np.random.default_rng(0)
    for batch in (1, 3):  # the tflite original had a fixed batch of 2
        x = rng.uniform(-1, 1, size=(batch, 3, 112, 112)).astype(np.float32)
        (y,) = session.run(None, {inp.name: x})
        assert y.shape == (batch, 192) and np.isfinite(y).all()
    # a batch gives the same rows as single runs (no cross-talk from the batch edit)
    x = rng.uniform(-1, 1, size=(2, 3, 112, 112)).astype(np.float32)
    (both,) = session.run(None, {inp.name: x})
    (first,) = session.run(None, {inp.name: x[:1]})
    np.testing.assert_allclose(both[0], first[0], rtol=1e-4, atol=1e-4)
