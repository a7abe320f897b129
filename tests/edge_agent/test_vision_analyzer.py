"""FaceAnalyzer: the whole stack on real photos, one face or all of them."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image


@pytest.fixture(scope="module")
def analyzer(model_store):
    return FaceAnalyzer.from_store(model_store)


def test_largest_face_and_all_faces(analyzer, datasets):
    img = load_image(datasets / "face-detection-groups" / "deepinsight__insightface" / "t1.jpg")
    faces = analyzer.analyze(img, all_faces=True)
    assert len(faces) == 6  # six people around a table
    emb = np.stack([f.embedding for f in faces])
    assert emb.shape == (6, 192) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    largest = analyzer.analyze(img)
    assert len(largest) == 1
    assert largest[0].detection.width * largest[0].detection.height == max(
        f.detection.width * f.detection.height for f in faces)
    assert all(0 <= f.quality.score <= 1 for f in faces)


def test_embed_faces_matches_analyze(analyzer, model_store):
    img = load_image(model_store.samples("face_recognition")["biden.jpg"])
    dets = analyzer.detect(img)
    emb = analyzer.embed_faces(img, dets)
    assert emb.shape == (1, analyzer.dim)
    assert np.allclose(emb[0], analyzer.analyze(img)[0].embedding, atol=1e-6)
    assert analyzer.embed_faces(img, []).shape == (0, analyzer.dim)


def test_stranger_in_a_group_does_not_match_the_samples(analyzer, model_store, datasets):
    """No face of a group photo of other people scores like the same person against Obama."""
    obama = analyzer.analyze(load_image(model_store.samples("face_recognition")["obama.jpg"]))[0].embedding
    img = load_image(datasets / "face-detection-groups" / "timesler__facenet-pytorch" / "multiface.jpg")
    faces = analyzer.analyze(img, all_faces=True)
    assert len(faces) >= 5
    assert max(float(f.embedding @ obama) for f in faces) < 0.4
