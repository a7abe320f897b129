"""Presentation-attack detection (edge_agent/vision/pad.py): the committed model through the model store, real
live vs print-attack faces, bad input, the track decision, `models list`, and the training reproducing the model."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image
from edge_agent.vision.pad import (
    REASON_VI,
    PadDecision,
    PresentationAttackDetector,
    aggregate_track,
    calibrate_threshold,
)
from edge_agent.vision.pad_features import FEATURE_VERSION, N_FEATURES, PadInputError, pad_features, pad_region
from edge_agent.vision.types import Detection
from models import ModelStore, ModelStoreError
from models.manifest import MANIFEST_PATH, parse_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pad(model_store):
    return PresentationAttackDetector.from_store(model_store)


@pytest.fixture(scope="module")
def analyzer(model_store):
    return FaceAnalyzer.from_store(model_store)


def _face(analyzer, img):
    found = analyzer.detect(img, padded=True)
    assert found, "the project's detector finds the face"
    return analyzer.refine(img, [max(found, key=lambda d: d.width * d.height)])[0]


def _tracks(datasets, analyzer, folder, subjects=("0001", "0005", "0010"), frames=3):
    out = {}
    for sid in subjects:
        paths = sorted((datasets / folder / f"nuaa_{sid}").glob("*.jpg"))
        chosen = [paths[i] for i in np.linspace(0, len(paths) - 1, frames).astype(int)]
        out[sid] = [(img, _face(analyzer, img)) for img in map(load_image, chosen)]
    return out


def test_model_loads_through_the_store_with_its_terms(model_store, pad):
    entry = model_store.default("liveness")
    assert entry.name == "pad_nuaa_lr" and entry.enabled and entry.source.registry == "repo"
    assert "RESEARCH USE ONLY" in entry.data_terms and "train_pad.py --live" in entry.data_terms
    assert model_store.status("pad_nuaa_lr").state == "ok"
    assert pad.meta["feature_version"] == FEATURE_VERSION and 0.3 < pad.threshold < 0.9
    assert pad.meta["trained_by"] == "benchmarks/train_pad.py"
    assert (ROOT / "models" / entry.source.path).read_bytes() == model_store.path("pad_nuaa_lr").read_bytes()


def test_live_faces_score_below_print_attacks(pad, analyzer, datasets):
    """Real NUAA frames through the real detector: every live track is passed, every print-attack track
    flagged, and attack frames score far above live ones. (These people are in the model's training data;
    the subject-disjoint figures are in benchmarks/RESULTS.md.)"""
    live = _tracks(datasets, analyzer, "ea-nuaa-webcam-15")
    attack = _tracks(datasets, analyzer, "ea-nuaa-imposter-15")
    live_scores = [pad.score(f, d) for t in live.values() for f, d in t]
    attack_scores = [pad.score(f, d) for t in attack.values() for f, d in t]
    assert np.median(attack_scores) > 0.8 and np.median(live_scores) < 0.2
    for sid, track in live.items():
        decision = pad.score_track(track)
        assert not decision.attack and decision.reason == "" and decision.frames == 3, sid
    for sid, track in attack.items():
        decision = pad.score_track(track)
        assert decision.attack and decision.reason == REASON_VI and decision.score >= decision.threshold, sid


def test_bad_input_is_a_clear_error(pad, analyzer, datasets):
    img = load_image(next((datasets / "ea-nuaa-webcam-15" / "nuaa_0001").glob("*.jpg")))
    det = _face(analyzer, img)
    cases = [
        (img.astype(np.float32), det, "uint8"),
        (img[:, :, 0], det, r"\(H, W, 3\)"),
        (img[:0], det, r"\(H, W, 3\)"),
        (img, None, "finite"),
        (img, Detection(box=det.box, landmarks=np.full((5, 2), np.nan, np.float32), score=1.0), "finite"),
        (img, Detection(box=np.array([10, 10, 30, 30], np.float32), landmarks=det.landmarks, score=1.0),
         "too small"),
        (img, Detection(box=det.box + 5000, landmarks=det.landmarks + 5000, score=1.0), "outside the frame"),
    ]
    for frame, detection, message in cases:
        with pytest.raises(PadInputError, match=message):
            pad.score(frame, detection)
    with pytest.raises(PadInputError, match=f"\\(N, {N_FEATURES}\\)"):
        pad.score_features(np.zeros((1, N_FEATURES - 1), np.float32))
    with pytest.raises(PadInputError, match="finite"):
        pad.score_features(np.full((1, N_FEATURES), np.nan, np.float32))
    assert isinstance(PadInputError("x"), ValueError)
    with pytest.raises(RuntimeError, match="prepare"):
        PresentationAttackDetector(pad.model_path).score(img, det)


def test_a_model_of_other_features_is_refused(pad, tmp_path):
    model = onnx.load(str(pad.model_path))
    for prop in model.metadata_props:
        if prop.key == "feature_version":
            prop.value = "pad-features-0"
    onnx.save(model, str(tmp_path / "old.onnx"))
    with pytest.raises(ValueError, match="retrain it"):
        PresentationAttackDetector(tmp_path / "old.onnx").prepare()


def test_track_aggregation():
    live = aggregate_track([0.1, 0.2, 0.3], 0.5)
    assert live == PadDecision(score=pytest.approx(0.2), threshold=0.5, attack=False, frames=3, reason="")
    flagged = aggregate_track([0.9, 0.4], 0.6)
    assert flagged.attack and flagged.score == pytest.approx(0.65) and flagged.reason == "nghi ngờ ảnh/màn hình"
    assert aggregate_track([0.5], 0.5).attack, "a score at the threshold is flagged"
    for scores, threshold, message in (([], 0.5, "no frame"), ([1.2], 0.5, r"\[0, 1\]"),
                                       ([float("nan")], 0.5, r"\[0, 1\]"), ([0.3], 1.0, r"\(0, 1\)")):
        with pytest.raises(PadInputError, match=message):
            aggregate_track(scores, threshold)


def test_calibrated_threshold_flags_at_most_the_target_share_of_live_tracks():
    live = np.linspace(0.0, 0.99, 100)
    threshold = calibrate_threshold(live, 0.01)
    assert (live >= threshold).sum() == 1 and 0.98 < threshold < 0.99
    assert (live >= calibrate_threshold(live, 0.05)).sum() == 5
    assert calibrate_threshold(live, 0.0) > live.max(), "target 0: no live track flagged"
    for scores, target in (([], 0.01), ([1.5], 0.01), ([0.2], 1.0)):
        with pytest.raises(PadInputError):
            calibrate_threshold(scores, target)


def test_score_track_skips_unusable_frames_and_caps_the_frames(pad, analyzer, datasets):
    track = _tracks(datasets, analyzer, "ea-nuaa-webcam-15", subjects=("0004",), frames=5)["0004"]
    img, det = track[0]
    tiny = Detection(box=np.array([10, 10, 30, 30], np.float32), landmarks=det.landmarks, score=1.0)
    decision = pad.score_track([(img, tiny), *track])
    assert decision.frames == 3, "the tiny face is skipped and only 3 frames are scored"
    expected = np.mean([pad.score(f, d) for f, d in track[:3]])
    assert decision.score == pytest.approx(expected, abs=1e-6)
    with pytest.raises(PadInputError, match="no frame of the track"):
        pad.score_track([(img, tiny)])
    assert pad_features(img, det).shape == (N_FEATURES,)


def test_the_kept_region_scores_as_the_whole_frame(pad, analyzer, datasets):
    """A tracker may keep only `pad_region` of a best frame: the score is the same as on the whole frame."""
    for folder in ("ea-nuaa-webcam-15", "ea-nuaa-imposter-15"):
        for img, det in _tracks(datasets, analyzer, folder, subjects=("0002",))["0002"]:
            crop, moved = pad_region(img, det)
            assert crop.shape[0] * crop.shape[1] < img.shape[0] * img.shape[1]
            assert pad.score(crop, moved) == pytest.approx(pad.score(img, det), abs=1e-3)


def test_models_list_shows_the_pad_model_and_its_data_terms():
    result = subprocess.run([sys.executable, "-m", "models", "list"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "250"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pad_nuaa_lr" in result.stdout and "liveness" in result.stdout
    assert "RESEARCH USE ONLY" in result.stdout and "training data and terms" in result.stdout


def test_store_copies_the_committed_model_and_names_a_missing_one(tmp_path):
    raw = tomllib.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    raw["models"] = {"pad_nuaa_lr": raw["models"]["pad_nuaa_lr"]}
    store = ModelStore(root=tmp_path / "ok", manifest=parse_manifest(raw))
    assert [s.state for s in store.fetch()] == ["ok"]
    raw["models"]["pad_nuaa_lr"]["source"]["path"] = "trained/absent.onnx"
    bad = ModelStore(root=tmp_path / "bad", manifest=parse_manifest(raw))
    with pytest.raises(ModelStoreError, match="model 'pad_nuaa_lr': committed model file not found"):
        bad.fetch()
    assert not any(p.is_file() for p in (tmp_path / "bad").rglob("*")), "nothing half-written"


def test_training_reproduces_the_committed_model(datasets, tmp_path):
    """benchmarks/train_pad.py retrains from the photos (fresh detections) and gets the committed file: the same
    bytes on the machine it was trained on, the same model within floating point on another CPU."""
    result = subprocess.run([sys.executable, "benchmarks/train_pad.py", "--check", "--cache", str(tmp_path),
                             "--datasets", str(datasets)], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reproduced:" in result.stdout


def test_check_tells_a_different_model_from_a_reproduced_one(pad, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from train_pad import check  # the training script's own comparison (benchmarks/ is not a package)

    committed = pad.model_path
    # features spread like the training photos' (the model's own standardisation, a fifth of a standard deviation
    # around the mean), so that scores are near the threshold instead of saturated at 0 or 1
    init = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(committed)).graph.initializer}
    z = np.random.default_rng(0).normal(scale=0.2, size=(200, N_FEATURES))
    x = (init["mean"] + z * init["scale"]).astype(np.float32)
    assert check(committed.read_bytes(), committed, x)[0]

    def moved(delta: float) -> bytes:
        model = onnx.load(str(committed))
        for t in model.graph.initializer:
            if t.name == "bias":
                t.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(t) + delta, "bias"))
        return model.SerializeToString()
    ok, text = check(moved(1e-4), committed, x)  # another CPU's floating point: the same model
    assert ok and "bytes differ" in text, text
    ok, text = check(moved(0.5), committed, x)  # a different model
    assert not ok and "mean score difference" in text, text
