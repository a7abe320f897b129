"""Face embedder on onnxruntime: aligned 112x112 crops in, L2-normalised vectors out.

Pre-processing (colour order, normalisation) comes from the model store entry's `io` section, so the
default MobileFaceNet and a user-registered ArcFace ONNX share this one code path.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_agent.vision.onnx_session import session_options

_AFFINE = re.compile(r"^\(\s*x\s*-\s*([0-9.]+)\s*\)\s*/\s*([0-9.]+)")
_SCALE = re.compile(r"^x\s*/\s*([0-9.]+)")


def parse_normalisation(text: str) -> tuple[float, float]:
    """(mean, std) from a manifest string such as "(x - 127.5) / 128", "x / 255" or "none: ..."."""
    text = text.strip()
    if m := _AFFINE.match(text):
        return float(m.group(1)), float(m.group(2))
    if m := _SCALE.match(text):
        return 0.0, float(m.group(1))
    if text.lower().startswith("none"):
        return 0.0, 1.0
    raise ValueError(f"unsupported normalisation in the model entry: {text!r}")


class Embedder:
    """`embed(aligned (N,112,112,3) BGR uint8) -> (N, D) float32`, L2-normalised.

    With `flip`, the mirrored face is embedded too and the two vectors are added before normalising
    (test-time flip: a more pose-robust template for one extra forward pass).
    """

    def __init__(self, model_path: str | Path, entry, threads: int = 1, flip: bool = True):
        self.flip = bool(flip)
        self.mean, self.std = parse_normalisation(entry.io.normalisation)
        self.rgb = entry.io.colour == "RGB"
        self.session = ort.InferenceSession(str(model_path), sess_options=session_options(threads),
                                            providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        self.size = tuple(int(d) for d in inp.shape[2:4])
        self.batch_dynamic = not isinstance(inp.shape[0], int)
        out_dim = self.session.get_outputs()[0].shape[-1]
        self.dim = int(entry.io.embedding_size or out_dim)

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        if self.batch_dynamic:
            return self.session.run([self.output_name], {self.input_name: blob})[0]
        return np.concatenate([self.session.run([self.output_name], {self.input_name: blob[i:i + 1]})[0]
                               for i in range(len(blob))])

    def features(self, aligned: np.ndarray) -> np.ndarray:
        """Raw (not normalised, not flipped) model outputs for (N, H, W, 3) BGR uint8 crops."""
        aligned = np.asarray(aligned)
        if aligned.ndim == 3:
            aligned = aligned[None]
        if aligned.ndim != 4 or aligned.shape[1:3] != self.size or aligned.shape[3] != 3:
            raise ValueError(f"embed() needs (N, {self.size[0]}, {self.size[1]}, 3) crops, got {aligned.shape}")
        if len(aligned) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = aligned[..., ::-1] if self.rgb else aligned
        blob = ((x.astype(np.float32) - self.mean) / self.std).transpose(0, 3, 1, 2)
        return self._forward(np.ascontiguousarray(blob)).reshape(len(blob), -1).astype(np.float32)

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        aligned = np.asarray(aligned)
        if aligned.ndim == 3:
            aligned = aligned[None]
        n = len(aligned)
        if self.flip and n:
            both = self.features(np.concatenate([aligned, aligned[:, :, ::-1]]))
            feats = both[:n] + both[n:]
        else:
            feats = self.features(aligned)
        return normalise(feats)


def normalise(feats: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    return (feats / np.maximum(norms, 1e-12)).astype(np.float32)
