"""The default models on real photos: the same person scores higher than two different people."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image


@pytest.fixture(scope="module")
def analyzer(model_store):
    return FaceAnalyzer.from_store(model_store)


def _embedding(analyzer, path) -> np.ndarray:
    faces = analyzer.analyze(load_image(path))
    assert faces, f"no face found in {path}"
    return faces[0].embedding


def _lfw(datasets, person: str, number: int):
    return datasets / "lfw-deepfunneled" / "images" / person / f"{person}_{number:04d}.jpg"


def test_sample_photos_same_person_scores_higher(analyzer, model_store):
    photos = model_store.samples("face_recognition")
    e = {name: _embedding(analyzer, path) for name, path in photos.items()}
    same = [e["obama.jpg"] @ e["obama2.jpg"], e["obama.jpg"] @ e["obama3.jpg"], e["obama2.jpg"] @ e["obama3.jpg"]]
    different = [e[o] @ e["biden.jpg"] for o in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    assert min(same) > max(different)


@pytest.mark.datasets
def test_lfw_pairs_same_person_scores_higher(analyzer, datasets):
    """The first matched and mismatched pairs of LFW's official pairs.txt (fold 1)."""
    lines = (datasets / "lfw-deepfunneled" / "pairs.txt").read_text().splitlines()
    matched = [line.split() for line in lines[1:21]]
    mismatched = [line.split() for line in lines[301:321]]
    same = [_embedding(analyzer, _lfw(datasets, p, int(a))) @ _embedding(analyzer, _lfw(datasets, p, int(b)))
            for p, a, b in matched]
    diff = [_embedding(analyzer, _lfw(datasets, p, int(a))) @ _embedding(analyzer, _lfw(datasets, q, int(b)))
            for p, a, q, b in mismatched]
    assert np.median(same) > np.median(diff) + 0.3
    # with 20 pairs each, the two groups are almost perfectly separable
    correct = sum(s > t for s in same for t in diff)
    assert correct / (len(same) * len(diff)) > 0.97
