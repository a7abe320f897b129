"""Quality score: blur, darkness, small faces and turned heads lower it and are named."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.image_io import load_image
from edge_agent.vision.quality import QualityGate, assess, estimate_pose
from edge_agent.vision.types import Detection


@pytest.fixture(scope="module")
def detector(model_store):
    return YuNetDetector(model_store.path("yunet"), min_face_px=10)


@pytest.fixture(scope="module")
def obama(model_store):
    img = load_image(model_store.samples("face_recognition")["obama.jpg"])
    return cv2.resize(img, (455, 569), interpolation=cv2.INTER_AREA)  # face about 115 px


def _one(detector, img) -> Detection:
    found = detector.detect(img)
    assert found, "no face"
    return found[0]


def test_good_photo_passes_the_enrolment_gate(detector, obama):
    q = assess(obama, _one(detector, obama))
    assert q.reasons == [] and QualityGate().passes(q)
    assert 0.7 < q.score <= 1.0
    assert abs(q.yaw) < 15 and abs(q.pitch) < 20 and 0.3 < q.exposure < 0.8


def test_blur_lowers_sharpness_and_score(detector, obama):
    sharp = assess(obama, _one(detector, obama))
    blurred_img = cv2.GaussianBlur(obama, (0, 0), 4)
    blurred = assess(blurred_img, _one(detector, blurred_img))
    assert blurred.sharpness < sharp.sharpness / 4
    assert blurred.score < sharp.score
    assert any("mờ" in r for r in blurred.reasons)


def test_dark_photo_is_named(detector, obama):
    dark_img = (obama.astype(np.float32) * 0.25).astype(np.uint8)
    q = assess(dark_img, _one(detector, dark_img))
    assert q.exposure < 0.2 and any("tối" in r for r in q.reasons)


def test_small_face_is_named(detector, obama):
    small_img = cv2.resize(obama, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    q = assess(small_img, _one(detector, small_img))
    big = assess(obama, _one(detector, obama))
    assert q.face_px < 80 and any("nhỏ" in r for r in q.reasons)
    assert q.score < big.score
    # a gate for live frames accepts it
    assert not any("nhỏ" in r for r in QualityGate(min_face_px=30).reasons(q))


def test_pose_from_landmarks():
    frontal = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
    yaw, pitch = estimate_pose(frontal)
    assert abs(yaw) < 3 and abs(pitch) < 3
    turned = frontal.copy()
    turned[2, 0] += 15  # nose far towards the image right: head turned
    yaw_t, _ = estimate_pose(turned)
    assert yaw_t > 30
    mirrored = frontal.copy()
    mirrored[2, 0] -= 15
    assert estimate_pose(mirrored)[0] == pytest.approx(-yaw_t, abs=0.5)
    assert abs(estimate_pose(turned)[1]) < 3  # yaw does not leak into pitch
    rolled = frontal @ np.array([[0.94, 0.34], [-0.34, 0.94]])  # in-plane rotation: still frontal
    assert abs(estimate_pose(rolled)[0]) < 3


def test_turned_head_in_a_real_photo(detector, model_store):
    img = load_image(model_store.samples("face_recognition")["obama2.jpg"])
    q = assess(img, _one(detector, img))
    flipped = img[:, ::-1].copy()
    qf = assess(flipped, _one(detector, flipped))
    assert np.sign(q.yaw) == -np.sign(qf.yaw) and abs(abs(q.yaw) - abs(qf.yaw)) < 10
    assert abs(q.yaw) > 8  # obama2 is visibly turned
