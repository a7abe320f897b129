"""Embedder choice per school: mfn | sface | fusion, thresholds per embedder, galleries that never mix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_agent.config import RecognitionConfig
from edge_agent.recognition.gallery import Gallery, GalleryError, GalleryMeta
from edge_agent.recognition.thresholds import DEFAULT_PATH, ThresholdsError, load_thresholds, thresholds_path
from edge_agent.vision.align import align_face
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.embedder_choice import build_embedder, identity, model_name
from edge_agent.vision.fusion import FusedEmbedder, fuse_embeddings, fusion_sha256, fusion_weight
from edge_agent.vision.image_io import load_image


@pytest.fixture(scope="module")
def crops(model_store):
    model_store.fetch(["sface"])  # not a default model: fetched here (a no-op once verified)
    analyzer = FaceAnalyzer.from_store(model_store)
    out = {}
    for name, path in model_store.samples("face_recognition").items():
        img = load_image(path)
        out[name] = align_face(img, analyzer.detect(img)[0].landmarks)
    return out


def test_choice_names_and_setting():
    assert [model_name(c) for c in ("mfn", "sface", "fusion")] == ["mobilefacenet", "sface", "fusion"]
    with pytest.raises(ValueError, match="unknown embedder"):
        model_name("arcface")
    assert RecognitionConfig().embedder == "mfn"  # MobileFaceNet stays the default
    with pytest.raises(ValueError):
        RecognitionConfig(embedder="arcface")


def test_fusion_weight_equalises_the_calibrated_scales():
    # impostor median -> 0 and review threshold -> 1 for both: a wider spread gets the smaller weight
    assert fusion_weight((0.6, 0.1), (0.6, 0.1)) == 0.5
    w = fusion_weight((0.61, 0.01), (0.41, 0.01))  # spreads 0.6 and 0.4
    assert w == pytest.approx(0.4, abs=1e-4)
    with pytest.raises(ValueError):
        fusion_weight((0.1, 0.2), (0.5, 0.0))
    assert fusion_sha256("a" * 64, "b" * 64, 0.4) != fusion_sha256("a" * 64, "b" * 64, 0.41)


def test_fused_cosine_is_the_weighted_sum_of_both_models_cosines(model_store, crops):
    w = 0.45
    fused, ident = build_embedder("fusion", model_store, weight=w)
    assert isinstance(fused, FusedEmbedder) and fused.dim == 192 + 128
    batch = np.stack(list(crops.values()))
    f = fused.embed(batch)
    assert np.allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    a, b = fused.first.embed(batch), fused.second.embed(batch)
    assert np.allclose(f, fuse_embeddings(a, b, w), atol=1e-6)
    for i, j in itertools.combinations(range(len(batch)), 2):
        assert float(f[i] @ f[j]) == pytest.approx(w * float(a[i] @ a[j]) + (1 - w) * float(b[i] @ b[j]), abs=1e-5)
    back_a, back_b = fused.split(f)
    assert np.allclose(back_a, a, atol=1e-5) and np.allclose(back_b, b, atol=1e-5)
    assert ident.name == "fusion" and ident.sha256 == identity("fusion", model_store, w).sha256
    with pytest.raises(ValueError, match="weight"):
        identity("fusion", model_store)


def test_thresholds_are_kept_per_embedder(tmp_path):
    assert thresholds_path("mobilefacenet") == thresholds_path(None) == DEFAULT_PATH
    assert thresholds_path("sface").name == "thresholds.sface.toml"
    with pytest.raises(ThresholdsError):
        thresholds_path("../etc/passwd")
    mfn = load_thresholds(embedder="mobilefacenet")
    assert mfn.embedder == "mobilefacenet" and mfn.fusion_weight is None
    other = tmp_path / "t.toml"
    other.write_text(DEFAULT_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ThresholdsError, match="calibrated for embedder 'mobilefacenet', not 'sface'"):
        load_thresholds(other, embedder="sface")


@pytest.mark.parametrize("embedder", ["sface", "fusion"])
def test_shipped_thresholds_of_the_other_embedders(model_store, embedder):
    th = load_thresholds(embedder=embedder)
    assert th.embedder == embedder and 0 < th.review <= th.accept <= th.strict < 1
    choice = "sface" if embedder == "sface" else "fusion"
    assert th.embedder_sha256 == identity(choice, model_store, th.fusion_weight).sha256
    assert (th.fusion_weight is not None) == (embedder == "fusion")


def test_a_gallery_of_one_embedder_is_refused_by_another(model_store, crops, tmp_path):
    emb, ident = build_embedder("sface", model_store)
    path = Gallery(emb.embed(np.stack(list(crops.values()))), list(crops),
                   GalleryMeta(ident.name, ident.sha256)).save(tmp_path / "g.npz")
    assert len(Gallery.load(path, expect_model_sha256=ident.sha256)) == 4
    for choice, weight in (("mfn", None), ("fusion", 0.5)):
        with pytest.raises(GalleryError, match="not the embedder in use"):
            Gallery.load(path, expect_model_sha256=identity(choice, model_store, weight).sha256)
