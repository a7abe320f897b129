"""SFace (OpenCV Zoo, Apache-2.0): the second face embedder, 128-d, on the same aligned 112x112 crops.

It runs through the one `Embedder` code path (alignment by `align.py`, test-time flip, L2 normalisation);
what differs is read from its model-store entry: BGR input, raw 0-255 pixels (the graph normalises),
128 outputs. The store serves the fp32-folded graph (models/onnx_fold.py), not the shipped int8 one.
"""

from __future__ import annotations

from edge_agent.vision.embedder import Embedder

MODEL_NAME = "sface"


class SFaceEmbedder(Embedder):
    """`embed(aligned (N,112,112,3) BGR uint8) -> (N, 128) float32`, L2-normalised."""

    @classmethod
    def from_store(cls, store=None, threads: int = 1, flip: bool = True) -> SFaceEmbedder:
        """SFace from the model store, verified by sha256 (`python -m models fetch sface` puts it there)."""
        if store is None:
            from models import ModelStore  # kept out of light commands that never embed

            store = ModelStore()
        entry = store.entry(MODEL_NAME)
        return cls(store.path(MODEL_NAME), entry, threads=threads, flip=flip)
