"""YuNet detector: same faces as OpenCV's FaceDetectorYN, annotated faces found, tight crops retried."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.image_io import load_image


@pytest.fixture(scope="module")
def detector(model_store):
    return YuNetDetector(model_store.path("yunet"))


@pytest.fixture(scope="module")
def samples(model_store):
    return {name: load_image(path) for name, path in model_store.samples("face_recognition").items()}


def _iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("size", [(640, 480), (333, 517), (910, 1137)])
def test_same_faces_as_opencv_facedetectoryn(detector, samples, model_store, size):
    """Our decoding on the dynamic-shape model gives OpenCV's boxes, landmarks and scores."""
    for name, img in samples.items():
        frame = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        ours = detector.detect(frame)
        ref = cv2.FaceDetectorYN.create(str(model_store.path("yunet")), "", size, 0.8, 0.3, 5000)
        _, faces = ref.detect(frame)
        assert faces is not None and len(ours) == len(faces) >= 1, name
        faces = faces[np.argsort(-faces[:, 14])]
        for det, f in zip(ours, faces, strict=True):
            ref_box = np.array([f[0], f[1], f[0] + f[2], f[1] + f[3]])
            assert np.abs(det.box - ref_box).max() < 0.5, name
            assert np.abs(det.landmarks - f[4:14].reshape(5, 2)).max() < 0.5, name
            assert det.score == pytest.approx(float(f[14]), abs=1e-3)


def test_one_face_per_sample_with_sane_landmarks(detector, samples):
    for name, img in samples.items():
        faces = detector.detect(img)
        assert len(faces) == 1, name
        f = faces[0]
        x1, y1, x2, y2 = f.box
        assert f.box.dtype == np.float32 and f.landmarks.shape == (5, 2) and f.score >= 0.8
        assert np.all((f.landmarks[:, 0] > x1) & (f.landmarks[:, 0] < x2))
        assert np.all((f.landmarks[:, 1] > y1) & (f.landmarks[:, 1] < y2))
        # insightface order: image-left eye, image-right eye, nose, image-left and image-right mouth corner
        assert f.landmarks[0, 0] < f.landmarks[1, 0] and f.landmarks[3, 0] < f.landmarks[4, 0]
        assert f.landmarks[0, 1] < f.landmarks[2, 1] < f.landmarks[3, 1]


def test_no_face_in_a_blank_or_noise_image(detector):
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert detector.detect(noise) == []
    assert detector.detect_padded(np.full((100, 80, 3), 200, np.uint8)) == []


def test_min_face_px_filters_small_faces(model_store, samples):
    frame = cv2.resize(samples["obama.jpg"], (455, 569))  # face about 115 px
    assert len(YuNetDetector(model_store.path("yunet"), min_face_px=50).detect(frame)) == 1
    assert YuNetDetector(model_store.path("yunet"), min_face_px=200).detect(frame) == []


def test_rejects_non_images(detector):
    with pytest.raises(ValueError):
        detector.detect(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((64, 64), np.uint8))


def test_padded_retry_finds_a_tight_id_photo_crop(detector, samples):
    """A face that fills a large photo is missed by a plain scan and found after padding."""
    img = samples["obama.jpg"]
    x1, y1, x2, y2 = detector.detect(img)[0].box.astype(int)
    crop = img[y1:y2, x1:x2]
    tight = cv2.resize(crop, (round(crop.shape[1] * 1000 / crop.shape[0]), 1000))
    assert detector.detect(tight) == []
    found = detector.detect_padded(tight)
    assert len(found) == 1
    lmk = found[0].landmarks
    # landmarks are in the crop's own coordinates: eyes in the upper half, mouth in the lower half
    assert 0 < lmk[0, 0] < lmk[1, 0] < tight.shape[1]
    assert 0 < lmk[0, 1] < tight.shape[0] / 2 < lmk[3, 1] < tight.shape[0]


def _dlib_boxes(xml_path):
    for image in ET.parse(xml_path).getroot().iter("image"):
        boxes = [(int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
                  int(b.get("top")) + int(b.get("height"))) for b in image.iter("box") if b.get("ignore") != "1"]
        yield image.get("file"), boxes


@pytest.mark.datasets
def test_finds_the_annotated_faces_in_group_photos(detector, datasets):
    folder = datasets / "face-detection-groups" / "davisking__dlib"
    total = matched = false_pos = 0
    for xml in ("training.xml", "testing.xml"):
        for file, gts in _dlib_boxes(folder / xml):
            dets = detector.detect(load_image(folder / file))
            ious = np.array([[_iou(g, d.box) for d in dets] for g in gts]).reshape(len(gts), len(dets))
            total += len(gts)
            matched += int((ious.max(axis=1) >= 0.3).sum()) if dets else 0
            false_pos += int((ious.max(axis=0) < 0.3).sum()) if gts and dets else len(dets)
    assert total == 43
    assert matched / total >= 0.95  # measured: 43 / 43
    assert false_pos <= 2  # measured: 0


@pytest.mark.datasets
def test_finds_the_faces_of_tight_160px_crops(detector, datasets):
    paths = sorted((datasets / "ea-kpop-idols-15").glob("*/*.jpg"))[::5]
    found = sum(bool(detector.detect_padded(load_image(p))) for p in paths)
    assert found / len(paths) >= 0.97  # measured: 353 / 355 over the whole set
