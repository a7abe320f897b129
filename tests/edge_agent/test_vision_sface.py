"""SFace embedder: 128-d normalised vectors through the same alignment path; same person above others."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_agent.vision.align import align_face
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image
from edge_agent.vision.sface import SFaceEmbedder


@pytest.fixture(scope="module")
def sface(model_store):
    model_store.fetch(["sface"])  # not a default model: fetched here (a no-op once verified)
    return SFaceEmbedder.from_store(model_store)


@pytest.fixture(scope="module")
def sample_faces(model_store):
    analyzer = FaceAnalyzer.from_store(model_store)
    out = {}
    for name, path in model_store.samples("face_recognition").items():
        img = load_image(path)
        out[name] = align_face(img, analyzer.detect(img)[0].landmarks)
    return out


def test_sface_reads_its_model_entry(sface, model_store):
    entry = model_store.entry("sface")
    assert entry.licence == "Apache-2.0" and entry.io.colour == "BGR"
    assert sface.dim == 128 and not sface.rgb and (sface.mean, sface.std) == (0.0, 1.0)
    assert sface.batch_dynamic  # the converted graph takes a batch (flip embeds 2N crops at once)


def test_sface_embeddings_are_l2_normalised(sface, sample_faces):
    batch = np.stack(list(sample_faces.values()))
    emb = sface.embed(batch)
    assert emb.shape == (4, 128) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert np.allclose(sface.embed(batch[2])[0], emb[2], atol=1e-5)
    with pytest.raises(ValueError):
        sface.embed(np.zeros((1, 96, 96, 3), np.uint8))


def test_sface_same_person_above_different_people(sface, sample_faces):
    e = dict(zip(sample_faces, sface.embed(np.stack(list(sample_faces.values()))), strict=True))
    obama = ["obama.jpg", "obama2.jpg", "obama3.jpg"]
    genuine = [float(e[a] @ e[b]) for a, b in itertools.combinations(obama, 2)]
    impostor = [float(e[a] @ e["biden.jpg"]) for a in obama]
    assert min(genuine) > max(impostor) + 0.3, (genuine, impostor)


def test_analyzer_can_run_sface(model_store, sample_faces):
    analyzer = FaceAnalyzer.from_store(model_store, embedder_name="sface")
    faces = analyzer.analyze(load_image(model_store.samples("face_recognition")["obama.jpg"]))
    assert len(faces) == 1 and faces[0].embedding.shape == (128,)
