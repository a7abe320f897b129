"""ONet landmarks (edge_agent/vision/landmarks.py) on real photos: where the points land, mirror symmetry,
batching, safe fallbacks, and that the converted model (models/tflite_onnx.py) behaves as MTCNN's ONet."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.image_io import load_image
from edge_agent.vision.landmarks import OnetLandmarker
from edge_agent.vision.types import Detection


@pytest.fixture(scope="module")
def landmarker(model_store):
    return OnetLandmarker(model_store.path("onet"))


@pytest.fixture(scope="module")
def detector(model_store):
    return YuNetDetector(model_store.path("yunet"))  # no landmarker: YuNet's own crop refinement


@pytest.fixture(scope="module")
def photos(model_store, datasets):
    out = {name: load_image(path) for name, path in model_store.samples("face_recognition").items()}
    lfw = sorted((datasets / "lfw-deepfunneled" / "images").glob("B*/*_0001.jpg"))[:6]
    nuaa = sorted((datasets / "ea-nuaa-webcam-15").glob("nuaa_000*/*.jpg"))[:3]
    kpop = sorted((datasets / "ea-kpop-idols-15").glob("*/*.jpg"))[:3]
    for path in [*lfw, *nuaa, *kpop]:
        out[path.parent.name + "/" + path.name] = load_image(path)
    return out


def _largest(detector, img):
    found = detector.detect(img) or detector.detect_padded(img)
    assert found
    return max(found, key=lambda d: d.width * d.height)


def test_points_land_on_the_face_near_the_detectors_own(landmarker, detector, photos):
    """On every photo ONet's points are in the box, in left/right order, eyes above mouth, and within a
    tenth of the eye distance (median) of YuNet's refined points: two independent models agree."""
    gaps = []
    for name, img in photos.items():
        det = _largest(detector, img)
        onet = landmarker.refine(img, det)
        assert onet is not det, f"{name}: ONet did not take a plain frontal face"
        lmk = onet.landmarks
        x1, y1, x2, y2 = det.box
        assert lmk.shape == (5, 2) and lmk.dtype == np.float32
        assert np.all((lmk[:, 0] > x1) & (lmk[:, 0] < x2) & (lmk[:, 1] > y1) & (lmk[:, 1] < y2)), name
        assert lmk[0, 0] < lmk[1, 0] and lmk[3, 0] < lmk[4, 0], name
        assert max(lmk[0, 1], lmk[1, 1]) < min(lmk[3, 1], lmk[4, 1]), name
        assert onet.box is det.box and onet.score == det.score
        yunet = detector.refine(img, det).landmarks
        iod = float(np.linalg.norm(yunet[0] - yunet[1]))
        gaps.append(float(np.median(np.linalg.norm(lmk - yunet, axis=1))) / iod)
    assert np.median(gaps) < 0.10, gaps
    assert max(gaps) < 0.25, gaps


def test_mirrored_photo_gives_mirrored_points(landmarker, detector, photos):
    """The crop and its mirror are averaged, so a mirrored photo gives the mirror image of the points."""
    for name in ["obama.jpg", "biden.jpg", *[n for n in photos if n.startswith("nuaa")][:1]]:
        img = photos[name]
        det = _largest(detector, img)
        w = img.shape[1]
        flipped = np.ascontiguousarray(img[:, ::-1])
        fbox = np.array([w - det.box[2], det.box[1], w - det.box[0], det.box[3]], np.float32)
        flmk = det.landmarks[[1, 0, 2, 4, 3]].copy()
        flmk[:, 0] = w - flmk[:, 0]
        a = landmarker.refine(img, det).landmarks
        b = landmarker.refine(flipped, Detection(fbox, flmk, det.score)).landmarks[[1, 0, 2, 4, 3]]
        b[:, 0] = w - b[:, 0]
        iod = float(np.linalg.norm(a[0] - a[1]))
        assert np.abs(a - b).max() < 0.05 * iod, name


def test_batch_equals_one_by_one(landmarker, detector, model_store, datasets):
    img = load_image(datasets / "face-detection-groups" / "deepinsight__insightface" / "t1.jpg")
    dets = detector.detect(img)
    assert len(dets) >= 4
    batch = landmarker.refine_all(img, dets)
    for d, b in zip(dets, batch, strict=True):
        one = landmarker.refine(img, d)
        assert np.allclose(one.landmarks, b.landmarks, atol=1e-3)


def test_no_face_no_landmarks(landmarker, detector, photos):
    """A box over a flat image, or over a place with no face, comes back unchanged: nothing is invented."""
    img = photos["biden.jpg"]
    det = _largest(detector, img)
    assert landmarker.refine(np.full_like(img, 128), det) is det
    h, w = img.shape[:2]
    corner = Detection(np.array([0, 0, w * 0.15, h * 0.15], np.float32), det.landmarks, det.score)
    assert landmarker.refine(np.full_like(img, 40), corner) is corner
    bad = Detection(np.array([np.nan, 0, 10, 10], np.float32), det.landmarks, det.score)
    assert landmarker.refine(img, bad) is bad
    assert landmarker.refine_all(img, []) == []


def test_the_converted_network_tells_faces_from_background(landmarker, detector, photos):
    """prob1 of the converted ONet is high on face crops and low on background crops: a conversion that
    flattened the tensor in the wrong order (NCHW instead of TFLite's NHWC) scores at chance."""
    face_probs, background_probs = [], []
    for img in photos.values():
        det = _largest(detector, img)
        prob, _, _ = landmarker._run(np.ascontiguousarray(img[:, :, ::-1]),
                                     [np.array([det.box[0], det.box[1], det.box[0] + det.width,
                                                det.box[1] + det.width])])[0]
        face_probs.append(prob)
        h, w = img.shape[:2]
        side = min(h, w) * 0.2
        prob, _, _ = landmarker._run(np.ascontiguousarray(img[:, :, ::-1]), [np.array([0, 0, side, side])])[0]
        background_probs.append(prob)
    assert min(face_probs) > 0.9, face_probs
    assert np.median(background_probs) < 0.2, background_probs


def test_not_an_onet_model_is_refused(model_store):
    with pytest.raises(ValueError, match="ONet"):
        OnetLandmarker(model_store.path("yunet"))


def test_analyzer_aligns_on_onet_points_and_falls_back_to_yunet(model_store, photos, detector):
    analyzer = FaceAnalyzer.from_store(model_store)
    assert isinstance(analyzer.detector.landmarker, OnetLandmarker)
    img = photos["obama2.jpg"]
    face = analyzer.analyze(img)[0]
    det = _largest(detector, img)
    assert np.allclose(face.detection.landmarks, analyzer.detector.landmarker.refine(img, det).landmarks,
                       atol=0.05)
    # where ONet is unsure the detector's own crop refinement is used (here: an implausible ONet threshold)
    strict = OnetLandmarker(model_store.path("onet"), min_prob=1.01)
    with_strict = YuNetDetector(model_store.path("yunet"), landmarker=strict)
    assert np.allclose(with_strict.refine(img, det).landmarks, detector.refine(img, det).landmarks)
