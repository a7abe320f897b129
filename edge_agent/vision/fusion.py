"""Score-level fusion of two embedders, as one embedding that any cosine gallery can search.

Each embedder's cosine is first put on a common scale ("calibrated"): c_i(s) = a_i * s + b_i, with
a_i = 1 / (t_i - m_i), where t_i is the embedder's own review threshold (East-Asian pair FAR 1e-3) and
m_i the median of its impostor scores, so that for both models the impostor median lands on 0 and
FAR 1e-3 on 1. The fused score is the mean of the calibrated cosines, up to a constant and a positive
scale: w * s_1 + (1 - w) * s_2 with w = a_1 / (a_1 + a_2). That weighted sum is exactly the inner
product of the concatenated vectors [sqrt(w) e_1, sqrt(1 - w) e_2], which have unit length, so
enrolment, FAISS search, track voting and the thresholds of the fused model (calibrated on fused
scores) all work unchanged. A gallery made this way records the fused identity (both models' sha256
and w): it never mixes with single-model templates.
"""

from __future__ import annotations

import hashlib

import numpy as np

from edge_agent.vision.embedder import Embedder

FUSION_NAME = "fusion"


def fusion_weight(first: tuple[float, float], second: tuple[float, float]) -> float:
    """w from each embedder's (review threshold, impostor median): a_i = 1 / (t_i - m_i)."""
    (t1, m1), (t2, m2) = first, second
    if t1 <= m1 or t2 <= m2:
        raise ValueError("a review threshold must lie above the impostor median")
    a1, a2 = 1.0 / (t1 - m1), 1.0 / (t2 - m2)
    return round(a1 / (a1 + a2), 4)


def fusion_sha256(first_sha256: str, second_sha256: str, weight: float) -> str:
    """The identity of a fused embedding space (what a gallery and its thresholds record)."""
    return hashlib.sha256(f"fusion|{first_sha256}|{second_sha256}|{weight:.4f}".encode()).hexdigest()


class FusedEmbedder:
    """`embed(aligned (N,112,112,3) BGR uint8) -> (N, D1 + D2)`: unit vectors whose inner product is the
    fused cosine w * s_1 + (1 - w) * s_2 (same interface as `Embedder`)."""

    def __init__(self, first: Embedder, second: Embedder, weight: float) -> None:
        if not 0.0 < weight < 1.0:
            raise ValueError(f"fusion weight {weight} must be in (0, 1)")
        if first.size != second.size:
            raise ValueError(f"both embedders must take the same crop, got {first.size} and {second.size}")
        self.first, self.second, self.weight = first, second, float(weight)
        self.size = first.size
        self.dim = first.dim + second.dim
        self._scale = np.float32(np.sqrt(weight)), np.float32(np.sqrt(1.0 - weight))

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        a, b = self.first.embed(aligned), self.second.embed(aligned)
        return np.concatenate([a * self._scale[0], b * self._scale[1]], axis=1).astype(np.float32)

    def split(self, fused: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two models' unit embeddings back from fused ones (N, D1 + D2)."""
        fused = np.atleast_2d(fused)
        d1 = self.first.dim
        return fused[:, :d1] / self._scale[0], fused[:, d1:] / self._scale[1]


def fuse_embeddings(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """Fused vectors from already computed unit embeddings of both models (zero rows stay zero)."""
    return np.concatenate([np.atleast_2d(first) * np.sqrt(weight),
                           np.atleast_2d(second) * np.sqrt(1.0 - weight)], axis=1).astype(np.float32)
