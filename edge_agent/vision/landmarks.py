"""Landmarks for alignment: MTCNN's output network (ONet) re-measures the 5 points inside the detector's box.

MobileFaceNet was trained on faces aligned with MTCNN landmarks; aligning on the same kind of points
scores higher than on YuNet's own (LFW 10-fold 99.35 -> 99.40 %, TAR@FAR1e-3 98.30 -> 98.80 %:
benchmarks/RESULTS.md). The detector still finds and tracks the faces; this class only re-measures the
points of the few faces about to be embedded, with the same code for enrolment and recognition.

Per face, `passes` rounds (default 3) of: square crop around the current box -> ONet on the crop and on
its mirror (points averaged, the mirror's left/right swapped back) -> the box regressed by ONet becomes the
next round's box, as in MTCNN's cascade. The points of the last round are returned. The face's box and score
are those of the detector. When ONet does not see a face (probability below `min_prob`) or its points move
further than `max_shift` x the face size from the detector's, the detection comes back unchanged: landmarks
are never invented.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge_agent.vision.onnx_session import session_options
from edge_agent.vision.types import Detection

ONET_SIZE = 48
_MIRROR = [1, 0, 2, 4, 3]  # left/right eye and mouth corners swap in a mirrored face


def _square(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


class OnetLandmarker:
    def __init__(self, model_path: str | Path, threads: int = 1, passes: int = 3, min_prob: float = 0.5,
                 max_shift: float = 0.25):
        if passes < 1:
            raise ValueError("passes must be >= 1")
        self.session = ort.InferenceSession(str(model_path), session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        try:
            self._outputs = [next(n for n in outputs if n.endswith(suffix))
                             for suffix in ("prob1", "conv6-2", "conv6-3")]
        except StopIteration:
            raise ValueError(f"{model_path} does not look like MTCNN's ONet (outputs {outputs})") from None
        self.passes, self.min_prob, self.max_shift = passes, float(min_prob), float(max_shift)

    @classmethod
    def from_store(cls, store, threads: int = 1, name: str | None = None) -> OnetLandmarker | None:
        """The store's default (or named) landmarks model; None when the store has none enabled."""
        if name:
            entry = store.entry(name)
        else:
            try:
                entry = store.default("landmarks")
            except Exception:  # noqa: BLE001 - no landmarks model: the detector's own refinement is used
                return None
        if not entry.enabled:
            return None
        return cls(store.path(entry.name), threads=threads)

    def _crops(self, rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        x1, y1, x2, _ = box
        s = ONET_SIZE / max(x2 - x1, 1e-6)
        m = np.array([[s, 0, -s * x1], [0, s, -s * y1]], np.float32)
        crop = cv2.warpAffine(rgb, m, (ONET_SIZE, ONET_SIZE), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        pair = np.stack([crop, crop[:, ::-1]]).astype(np.float32)
        return ((pair - 127.5) * 0.0078125).transpose(0, 2, 1, 3), s  # ONet reads the crop transposed

    def _run(self, rgb: np.ndarray, boxes: list[np.ndarray]):
        """One round for every box: (probability, next box, points) per box."""
        crops, scales = zip(*(self._crops(rgb, b) for b in boxes), strict=True)
        prob, reg, pts = self.session.run(self._outputs, {self.input_name: np.ascontiguousarray(np.concatenate(crops))})
        out = []
        for k, (box, s) in enumerate(zip(boxes, scales, strict=True)):
            x1, y1, x2, y2 = box
            w = x2 - x1
            px, py = pts[2 * k, :5] * ONET_SIZE, pts[2 * k, 5:] * ONET_SIZE
            mx, my = ONET_SIZE - 1 - pts[2 * k + 1, :5] * ONET_SIZE, pts[2 * k + 1, 5:] * ONET_SIZE
            points = np.stack([(px + mx[_MIRROR]) / 2 / s + x1, (py + my[_MIRROR]) / 2 / s + y1], 1)
            r0, r1 = reg[2 * k], reg[2 * k + 1]
            r = (r0 + np.array([-r1[2], r1[1], -r1[0], r1[3]])) / 2
            nxt = np.array([x1 + r[0] * w, y1 + r[1] * w, x2 + r[2] * w, y2 + r[3] * w])
            out.append((float(min(prob[2 * k, 1], prob[2 * k + 1, 1])), nxt, points))
        return out

    def refine_all(self, image_bgr: np.ndarray, detections: list[Detection]) -> list[Detection]:
        """`detections` with their landmarks re-measured by ONet (each unchanged where ONet is unsure)."""
        usable = [i for i, d in enumerate(detections)
                  if np.all(np.isfinite(d.box)) and np.all(np.isfinite(d.landmarks)) and d.width >= 1 and d.height >= 1]
        if not usable:
            return list(detections)
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        boxes = [_square(detections[i].box) for i in usable]
        results = []
        for _ in range(self.passes):
            results = self._run(rgb, boxes)
            boxes = [_square(nxt) for _, nxt, _ in results]
        out = list(detections)
        for i, (prob, _, points) in zip(usable, results, strict=True):
            det = detections[i]
            limit = self.max_shift * max(det.width, det.height)
            if prob < self.min_prob or not np.all(np.isfinite(points)) or np.abs(points - det.landmarks).max() > limit:
                continue
            out[i] = Detection(box=det.box, landmarks=points.astype(np.float32), score=det.score)
        return out

    def refine(self, image_bgr: np.ndarray, det: Detection) -> Detection:
        return self.refine_all(image_bgr, [det])[0]
