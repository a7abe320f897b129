"""A synthetic camera stream of real faces in motion, for tests, benchmarks and demos.

Real face photos are cropped around their detected face and pasted, with a soft elliptical edge, onto
a textured background; each face moves with constant velocity and bounces off the frame edges. The
pasted boxes are known, so trackers can be checked against them. Nothing here is a model output:
the frames are images to be fed to the real detector.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def textured_background(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A deterministic, smooth, non-uniform background (w, h) like a wall with light falloff."""
    w, h = size
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    noise = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 2), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - 0.35 * (((xx - w / 2) / w) ** 2 + ((yy - h / 3) / h) ** 2)
    base = np.array([150, 160, 170], np.float32)
    img = base * light[:, :, None] + 18 * noise
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class MovingFace:
    """One face: its crops (cycled frame by frame), size in pixels, start centre and velocity (px/frame).

    `bounce` reflects it off the frame edges; otherwise, with `loop`, it starts its path again every
    `loop` frames (a new person walking past), shifted by `phase` frames.
    """

    crops: Sequence[np.ndarray]
    size: int
    centre: tuple[float, float]
    velocity: tuple[float, float]
    bounce: bool = True
    loop: int | None = None
    phase: int = 0


class MovingFacesStream:
    """Frames of `faces` moving over a background; `boxes(i)` gives where each face was pasted in frame i."""

    def __init__(self, faces: Sequence[MovingFace], frame_size: tuple[int, int] = (640, 480),
                 seed: int = 0, margin: float = 0.5) -> None:
        if not faces:
            raise ValueError("at least one face is needed")
        self.faces = list(faces)
        self.frame_size = frame_size
        self.margin = margin
        self.background = textured_background(frame_size, seed)
        self._masks: dict[int, np.ndarray] = {}
        self._resized: dict[tuple[int, int], np.ndarray] = {}

    def _mask(self, side: int) -> np.ndarray:
        if side not in self._masks:
            m = np.zeros((side, side), np.float32)
            cv2.ellipse(m, (side // 2, side // 2), (int(side * 0.42), int(side * 0.48)), 0, 0, 360, 1.0, -1)
            self._masks[side] = cv2.GaussianBlur(m, (0, 0), side * 0.05)[:, :, None]
        return self._masks[side]

    def _centre(self, face: MovingFace, i: int) -> tuple[float, float]:
        w, h = self.frame_size
        half = face.size * (1 + 2 * self.margin) / 2
        if face.loop:
            i = (i + face.phase) % face.loop
        out = []
        for pos, vel, lim in ((face.centre[0], face.velocity[0], w), (face.centre[1], face.velocity[1], h)):
            p = pos + vel * i
            if face.bounce:  # reflect inside [half, lim - half]
                lo, span = half, max(lim - 2 * half, 1.0)
                q = (p - lo) % (2 * span)
                p = lo + (q if q <= span else 2 * span - q)
            out.append(p)
        return out[0], out[1]

    def boxes(self, i: int) -> np.ndarray:
        """(n_faces, 4) approximate face boxes x1, y1, x2, y2 in frame i (the face, not the crop)."""
        out = []
        for face in self.faces:
            cx, cy = self._centre(face, i)
            s = face.size / 2
            out.append([cx - s, cy - s, cx + s, cy + s])
        return np.asarray(out, np.float32)

    def frame(self, i: int) -> np.ndarray:
        img = self.background.astype(np.float32)
        w, h = self.frame_size
        for k, face in enumerate(self.faces):
            side = int(round(face.size * (1 + 2 * self.margin)))
            key = (k * 100003 + i % len(face.crops), side)
            crop = self._resized.get(key)
            if crop is None:
                crop = cv2.resize(face.crops[i % len(face.crops)], (side, side),
                                  interpolation=cv2.INTER_AREA).astype(np.float32)
                self._resized[key] = crop
            cx, cy = self._centre(face, i)
            x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
            xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
            if xa >= xb or ya >= yb:
                continue
            m = self._mask(side)[ya - y0:yb - y0, xa - x0:xb - x0]
            c = crop[ya - y0:yb - y0, xa - x0:xb - x0]
            img[ya:yb, xa:xb] = img[ya:yb, xa:xb] * (1 - m) + c * m
        return np.clip(img, 0, 255).astype(np.uint8)

    def frames(self, n: int) -> Iterator[np.ndarray]:
        for i in range(n):
            yield self.frame(i)
