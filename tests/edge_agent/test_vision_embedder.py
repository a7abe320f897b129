"""Embedder: normalised vectors, same person above different people, one code path with insightface."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_agent.vision.align import align_face
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.embedder import Embedder, parse_normalisation
from edge_agent.vision.image_io import load_image


@pytest.fixture(scope="module")
def analyzer(model_store):
    return FaceAnalyzer.from_store(model_store)


@pytest.fixture(scope="module")
def sample_faces(analyzer, model_store):
    out = {}
    for name, path in model_store.samples("face_recognition").items():
        img = load_image(path)
        det = analyzer.detect(img)[0]
        out[name] = align_face(img, det.landmarks)
    return out


def test_normalisation_strings():
    assert parse_normalisation("(x - 127.5) / 128") == (127.5, 128.0)
    assert parse_normalisation("x / 255") == (0.0, 255.0)
    assert parse_normalisation("none: raw 0-255 pixel values") == (0.0, 1.0)
    with pytest.raises(ValueError):
        parse_normalisation("imagenet mean/std")


def test_embeddings_are_l2_normalised(analyzer, sample_faces):
    batch = np.stack(list(sample_faces.values()))
    emb = analyzer.embedder.embed(batch)
    assert emb.shape == (4, 192) and emb.dtype == np.float32 and analyzer.dim == 192
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    one = analyzer.embedder.embed(batch[1])  # a single crop is accepted as a batch of one
    assert np.allclose(one[0], emb[1], atol=1e-5)
    assert analyzer.embedder.embed(batch[:0]).shape == (0, 192)
    with pytest.raises(ValueError):
        analyzer.embedder.embed(np.zeros((1, 100, 100, 3), np.uint8))


@pytest.mark.parametrize("flip", [False, True])
def test_same_person_above_different_people_on_samples(model_store, sample_faces, flip):
    entry = model_store.default("embedder")
    emb = Embedder(model_store.path(entry.name), entry, flip=flip)
    e = {n: v for n, v in zip(sample_faces, emb.embed(np.stack(list(sample_faces.values()))), strict=True)}
    obama = ["obama.jpg", "obama2.jpg", "obama3.jpg"]
    genuine = [float(e[a] @ e[b]) for a, b in itertools.combinations(obama, 2)]
    impostor = [float(e[a] @ e["biden.jpg"]) for a in obama]
    assert min(genuine) > 0.6 and max(impostor) < 0.3  # measured: >= 0.77 and <= 0.08
    assert min(genuine) > max(impostor) + 0.4


def test_same_embeddings_as_insightface_arcfaceonnx(model_store, sample_faces):
    """The store's MobileFaceNet loads as insightface's ArcFaceONNX too; the two agree (one code path)."""
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    entry = model_store.default("embedder")
    ours = Embedder(model_store.path(entry.name), entry, flip=False)
    ref = ArcFaceONNX(str(model_store.path(entry.name)))
    ref.input_mean, ref.input_std = 127.5, 128.0  # the manifest's normalisation
    crops = list(sample_faces.values())
    theirs = ref.get_feat(crops)
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    assert np.abs(ours.embed(np.stack(crops)) - theirs).max() < 1e-4


@pytest.mark.datasets
def test_same_person_above_different_people_on_dlib_johns(analyzer, datasets):
    folder = datasets / "dlib-johns" / "images"
    embs, labels = [], []
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(person.glob("*.jpg"))[:6]:
            faces = analyzer.analyze(load_image(path))
            assert faces, path
            embs.append(faces[0].embedding)
            labels.append(person.name)
    emb, labels = np.stack(embs), np.array(labels)
    sim = emb @ emb.T
    same = labels[:, None] == labels[None, :]
    off_diag = ~np.eye(len(labels), dtype=bool)
    genuine, impostor = sim[same & off_diag], sim[~same]
    assert genuine.mean() > impostor.mean() + 0.4
    # each photo's nearest other photo is the same John
    nearest = np.where(off_diag, sim, -2).argmax(axis=1)
    assert (labels[nearest] == labels).mean() >= 0.95


@pytest.mark.datasets
def test_lfw_pairs_fold1_subset(analyzer, datasets):
    """120 pairs of LFW's first fold: a threshold of 0.40 separates them almost perfectly."""
    lfw = datasets / "lfw-deepfunneled"
    lines = (lfw / "pairs.txt").read_text().split("\n")[1:601]
    pairs = lines[:60] + lines[300:360]

    def emb(name, idx):
        faces = analyzer.analyze(load_image(lfw / "images" / name / f"{name}_{int(idx):04d}.jpg"))
        assert faces, (name, idx)
        return faces[0].embedding

    correct = 0
    for line in pairs:
        f = line.split()
        if len(f) == 3:
            correct += float(emb(f[0], f[1]) @ emb(f[0], f[2])) > 0.40
        else:
            correct += float(emb(f[0], f[1]) @ emb(f[2], f[3])) <= 0.40
    assert correct / len(pairs) >= 0.95
