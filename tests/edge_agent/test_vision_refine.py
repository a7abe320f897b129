"""Landmark refinement (YuNetDetector.refine): small, face-bound corrections on real photos; safe fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.image_io import load_image


@pytest.fixture(scope="module")
def detector(model_store):
    return YuNetDetector(model_store.path("yunet"))


@pytest.fixture(scope="module")
def photos(model_store, datasets):
    """Sample portraits plus LFW, East-Asian (webcam, K-pop) photos and a group photo."""
    out = {name: load_image(path) for name, path in model_store.samples("face_recognition").items()}
    lfw = sorted((datasets / "lfw-deepfunneled" / "images").glob("A*/*_0001.jpg"))[:4]
    nuaa = sorted((datasets / "ea-nuaa-webcam-15").glob("nuaa_000*/*.jpg"))[:2]
    kpop = sorted((datasets / "ea-kpop-idols-15").glob("*/*.jpg"))[:2]
    for path in [*lfw, *nuaa, *kpop, datasets / "face-detection-groups" / "deepinsight__insightface" / "t1.jpg"]:
        out[path.parent.name + "/" + path.name] = load_image(path)
    return out


def _assert_sane(det, ref, name):
    x1, y1, x2, y2 = det.box
    lmk = det.landmarks
    assert lmk.shape == (5, 2) and lmk.dtype == np.float32, name
    assert np.all((lmk[:, 0] > x1) & (lmk[:, 0] < x2) & (lmk[:, 1] > y1) & (lmk[:, 1] < y2)), name
    assert lmk[0, 0] < lmk[1, 0] and lmk[3, 0] < lmk[4, 0], name  # left/right order kept after the mirror
    assert det.box is ref.box and det.score == ref.score, name  # box and score are the first pass's


def test_refinement_moves_landmarks_a_little_and_keeps_them_in_the_face(detector, photos):
    moved = []
    for name, img in photos.items():
        found = detector.detect(img)
        assert found, name
        for det in found:
            ref = detector.refine(img, det)
            _assert_sane(ref, det, name)
            shift = np.linalg.norm(ref.landmarks - det.landmarks, axis=1) / det.width
            assert shift.max() < 0.15, (name, shift)  # a correction (small faces: up to ~10 %), not another face
            moved.append(shift.mean())
    moved = np.array(moved)
    assert len(moved) >= 15
    assert np.median(moved) > 0.002  # it does change the points (sub-pixel noise would be ~0)
    assert np.median(moved) < 0.06


def test_each_face_of_a_group_keeps_its_own_landmarks(detector, photos):
    """Neighbours inside the crop are ignored: the face nearest the crop centre is the one refined."""
    img = photos["deepinsight__insightface/t1.jpg"]
    found = detector.detect(img)
    assert len(found) == 6
    for det in found:
        ref = detector.refine(img, det)
        _assert_sane(ref, det, "t1")
        others = [d for d in found if d is not det]
        centre = ref.landmarks.mean(0)
        assert all(not (o.box[0] < centre[0] < o.box[2] and o.box[1] < centre[1] < o.box[3]) for o in others)


def test_face_cut_by_the_image_border(detector, photos):
    """A face half outside the frame: the replicated border must not drag the landmarks away."""
    img = photos["obama.jpg"]
    det = detector.detect(img)[0]
    for cut in (det.box[0] + 0.25 * det.width, det.box[0] + 0.4 * det.width):  # left quarter / 40 % cut off
        x0 = int(cut)
        part = np.ascontiguousarray(img[:, x0:])
        found = detector.detect(part)
        if not found:
            continue
        d = found[0]
        ref = detector.refine(part, d)
        assert ref.box is d.box
        shift = np.linalg.norm(ref.landmarks - d.landmarks, axis=1).max() / d.width
        assert shift <= 0.2  # either the original points or a small correction
        truth = detector.refine(img, det).landmarks - np.array([x0, 0], np.float32)
        inside = truth[:, 0] > 0  # points still in the cut image: refinement must not make them worse
        err_before = np.linalg.norm(d.landmarks[inside] - truth[inside], axis=1).mean()
        err_after = np.linalg.norm(ref.landmarks[inside] - truth[inside], axis=1).mean()
        assert err_after <= err_before + 0.02 * d.width


def test_falls_back_to_the_original_landmarks_when_the_face_is_not_found_again(detector, photos):
    img = photos["biden.jpg"]
    det = detector.detect(img)[0]
    blank = np.full_like(img, 128)  # the same box over a flat grey image: nothing to re-detect
    assert detector.refine(blank, det) is det
    elsewhere = photos["obama.jpg"]  # a face exists there, but not at this box: no borrowed landmarks
    ref = detector.refine(elsewhere, det)
    assert ref is det or np.abs(ref.landmarks - det.landmarks).max() <= 0.2 * det.width


def test_refinement_can_be_turned_off(model_store, photos):
    off = YuNetDetector(model_store.path("yunet"), refine_landmarks=False)
    img = photos["obama.jpg"]
    det = off.detect(img)[0]
    assert off.refine(img, det) is det
    analyzer = FaceAnalyzer.from_store(model_store, refine_landmarks=False)
    face = analyzer.analyze(img)[0]
    assert np.array_equal(face.detection.landmarks, det.landmarks)


def test_analyzer_aligns_and_scores_on_refined_landmarks(model_store, photos):
    analyzer = FaceAnalyzer.from_store(model_store)
    img = photos["obama2.jpg"]
    det = analyzer.detect(img)[0]
    face = analyzer.analyze(img)[0]
    refined = analyzer.detector.refine(img, det)
    assert not np.array_equal(refined.landmarks, det.landmarks)
    assert np.allclose(face.detection.landmarks, refined.landmarks)
    assert np.allclose(analyzer.embed_faces(img, [det])[0], face.embedding, atol=1e-6)
    # the unrefined alignment gives a (slightly) different embedding of the same person
    plain = analyzer.embed_faces(img, [det], refined=True)[0]
    assert 0.9 < float(plain @ face.embedding) < 0.99999
