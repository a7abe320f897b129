"""Square face crops around a detection (kiosk thumbnails, enrolment material, synthetic streams)."""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.vision.types import Detection


def face_crop(image_bgr: np.ndarray, detection: Detection, margin: float = 0.5) -> np.ndarray:
    """A square crop centred on a detected face, `margin` of the face size added on each side."""
    x1, y1, x2, y2 = (float(v) for v in detection.box)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = side / 2
    pad = int(np.ceil(side))
    padded = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    a, b = int(round(cx - half)) + pad, int(round(cy - half)) + pad
    s = int(round(side))
    return np.ascontiguousarray(padded[b:b + s, a:a + s])
