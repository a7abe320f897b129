"""A synthetic recapture attack: a live photo shown on a phone screen or printed, then re-photographed by a webcam.

Used by benchmarks/pad.py to measure what the NUAA print set cannot (screens) and how the PAD model
generalises to recaptures it never saw. Every step is physical in intent and seeded (one RNG per image):

0. the photo: a portrait crop around the face (2-3x its size), as an attacker would print or show;
1. the medium (half the images each):
   - screen: the photo resized to a phone-like 300-420 px wide display, each pixel drawn as three R, G, B
     sub-pixel stripes (3x upsampling, stripe contrast 15-40 %: what the optics leave of the grid), with
     the display's gamma (0.8-1.2) and raised black level (12-30), a little glare (a bright linear
     gradient), inside a black bezel (6-12 % of the width);
   - print: the photo with an ink gamut (saturation x 0.6-0.85, contrast x 0.75-0.9, paper black 25-45),
     a yellowish paper cast, paper grain (Gaussian noise), inside a white paper margin (4-10 %);
2. the scene: the medium fills 55-85 % of the frame height, rotated +-10 degrees with a random perspective
   (corners moved up to 7 % of its size), over a blurred (sigma 9) darkened room: another frame of the
   same live set, upside down (so that its blurred face is not detected). Re-sampling the
   sub-pixel grid through this warp is what produces the moire;
3. the webcam: defocus blur (sigma 0.5-1.5), white balance cast (0.85-1.15 per channel), gain and gamma
   (0.85-1.2), sensor noise (sigma 2-5), JPEG at quality 55-85; the frame is 640x480 like NUAA's.
"""

from __future__ import annotations

import cv2
import numpy as np

FRAME_W, FRAME_H = 640, 480


def _screen(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    width = int(rng.integers(300, 421))
    height = max(8, round(img.shape[0] * width / img.shape[1]))
    small = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    small = small ** rng.uniform(0.8, 1.2)
    black = rng.uniform(12, 30) / 255.0
    small = black + (1.0 - black) * small
    big = np.repeat(np.repeat(small, 3, axis=0), 3, axis=1)
    stripes = np.zeros_like(big)  # each pixel: B, G, R stripes of 1/3 width (the sub-pixel layout)
    for c in range(3):
        stripes[:, (2 - c)::3, c] = big[:, (2 - c)::3, c] * 3.0
    depth = rng.uniform(0.15, 0.4)  # how much of the grid survives the camera's optics
    sub = (1 - depth) * big + depth * stripes
    glare = np.linspace(rng.uniform(0.0, 0.15), 0.0, sub.shape[1], dtype=np.float32)[None, :, None]
    sub = np.clip(sub + glare, 0, 1)
    bezel = round(rng.uniform(0.06, 0.12) * sub.shape[1])
    framed = cv2.copyMakeBorder((sub * 255).astype(np.uint8), bezel, bezel, bezel, bezel,
                                cv2.BORDER_CONSTANT, value=(int(rng.integers(5, 25)),) * 3)
    return framed


def _print(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[:, :, 1] *= rng.uniform(0.6, 0.85)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    contrast, black = rng.uniform(0.75, 0.9), rng.uniform(25, 45)
    out = black + contrast * out
    out *= np.array([rng.uniform(0.85, 0.95), rng.uniform(0.97, 1.0), 1.0], np.float32)  # yellowish paper
    out += rng.normal(0, 4, out.shape).astype(np.float32)
    margin = round(rng.uniform(0.04, 0.10) * img.shape[1])
    paper = (int(rng.integers(215, 245)),) * 3
    return cv2.copyMakeBorder(np.clip(out, 0, 255).astype(np.uint8), margin, margin, margin, margin,
                              cv2.BORDER_CONSTANT, value=paper)


def _scene(medium: np.ndarray, room: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    bg = cv2.resize(cv2.flip(room, -1), (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA)  # upside down:
    # a blurred face in the room must not be the one the detector picks
    bg = (cv2.GaussianBlur(bg, (0, 0), 9) * rng.uniform(0.5, 0.9)).astype(np.uint8)
    h, w = medium.shape[:2]
    scale = rng.uniform(0.55, 0.85) * FRAME_H / h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    corners = (src - [w / 2, h / 2]) * scale
    corners += rng.uniform(-0.07, 0.07, (4, 2)) * [w * scale, h * scale]
    angle = np.deg2rad(rng.uniform(-10, 10))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = [FRAME_W / 2 + rng.uniform(-60, 60), FRAME_H / 2 + rng.uniform(-30, 30)]
    dst = np.float32(corners @ rot.T + centre)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(medium, m, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR)
    a = mask.astype(np.float32)[:, :, None] / 255.0
    return (warped * a + bg * (1 - a)).astype(np.uint8)


def _webcam(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 1.5)).astype(np.float32) / 255.0
    out *= rng.uniform(0.85, 1.15, 3).astype(np.float32)
    out = np.clip(out * rng.uniform(0.9, 1.15), 0, 1) ** rng.uniform(0.85, 1.2)
    out = out * 255 + rng.normal(0, rng.uniform(2, 5), out.shape)
    ok, jpg = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 86))])
    return cv2.imdecode(jpg, cv2.IMREAD_COLOR)


def portrait(photo: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo cropped to a portrait around the face box (2-3x the face, 4:5), as an attacker would show."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * rng.uniform(2.0, 3.0)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.1 * side
    w, h = side * 0.8, side
    left, top = int(max(0, cx - w / 2)), int(max(0, cy - h / 2))
    right, bottom = int(min(photo.shape[1], cx + w / 2)), int(min(photo.shape[0], cy + h / 2))
    return photo[top:bottom, left:right]


def recapture(photo: np.ndarray, room: np.ndarray, kind: str, seed: int, face_box: np.ndarray | None = None
              ) -> np.ndarray:
    """`photo` (BGR) shown as `kind` ("screen" or "print") and re-photographed over `room`: a BGR frame.
    With `face_box`, the photo is first cropped to a portrait around that face."""
    if kind not in ("screen", "print"):
        raise ValueError(f"unknown recapture kind {kind!r}")
    rng = np.random.default_rng(seed)
    if face_box is not None:
        photo = portrait(photo, face_box, rng)
    medium = _screen(photo, rng) if kind == "screen" else _print(photo, rng)
    return _webcam(_scene(medium, room, rng), rng)
