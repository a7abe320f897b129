"""One face-quality score (0..1) from size, sharpness, pose and exposure.

It gates enrolment photos (`QualityGate`) and picks the best frames of a track (`Quality.score`).
Pose is estimated from the 5 landmarks (no extra model): yaw from the nose's sideways offset against
the eye-mouth centre line, pitch from where the nose sits between the eye and mouth lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_agent.vision.align import align_face
from edge_agent.vision.types import Detection

_NOSE_DEPTH = 0.55  # nose-tip depth over eye distance, average adult face (for the yaw estimate)
_FRONTAL_NOSE_T = 0.495  # nose position between eye and mouth lines on the ArcFace template


@dataclass(frozen=True)
class Quality:
    score: float  # 0..1, higher is better
    face_px: float  # shorter side of the face box, in pixels
    sharpness: float  # variance of the Laplacian of the aligned 112x112 grey face
    yaw: float  # degrees, 0 = frontal (sign: + turned towards image right)
    pitch: float  # degrees, 0 = frontal (sign: + looking down)
    exposure: float  # mean brightness of the aligned face, 0..1
    reasons: list[str] = field(default_factory=list)  # Vietnamese, for people: what is wrong


@dataclass(frozen=True)
class QualityGate:
    """Limits a face must meet; the defaults suit enrolment photos (stricter than live frames)."""

    min_face_px: float = 80.0
    min_sharpness: float = 40.0
    max_yaw: float = 25.0
    max_pitch: float = 25.0
    exposure_range: tuple[float, float] = (0.2, 0.85)
    min_score: float = 0.5

    def reasons(self, q: Quality) -> list[str]:
        out = []
        if q.face_px < self.min_face_px:
            out.append(f"khuôn mặt quá nhỏ ({q.face_px:.0f} px < {self.min_face_px:.0f} px)")
        if q.sharpness < self.min_sharpness:
            out.append(f"ảnh bị mờ (độ nét {q.sharpness:.0f} < {self.min_sharpness:.0f})")
        if abs(q.yaw) > self.max_yaw:
            out.append(f"mặt quay ngang quá nhiều ({q.yaw:+.0f}°)")
        if abs(q.pitch) > self.max_pitch:
            out.append(f"mặt cúi hoặc ngửa quá nhiều ({q.pitch:+.0f}°)")
        lo, hi = self.exposure_range
        if q.exposure < lo:
            out.append(f"ảnh quá tối (độ sáng {q.exposure:.2f})")
        elif q.exposure > hi:
            out.append(f"ảnh quá sáng (độ sáng {q.exposure:.2f})")
        if q.score < self.min_score and not out:
            out.append(f"chất lượng khuôn mặt thấp (điểm {q.score:.2f} < {self.min_score:.2f})")
        return out

    def passes(self, q: Quality) -> bool:
        return not self.reasons(q)


def estimate_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees from 5 landmarks, after removing the in-plane roll."""
    lmk = np.asarray(landmarks, dtype=np.float64)
    eye_l, eye_r, nose, mouth_l, mouth_r = lmk
    dx, dy = eye_r - eye_l
    roll = math.atan2(dy, dx)
    c, s = math.cos(-roll), math.sin(-roll)
    rot = lmk @ np.array([[c, s], [-s, c]])
    eye_mid, mouth_mid = (rot[0] + rot[1]) / 2, (rot[3] + rot[4]) / 2
    eye_dist = max(float(np.linalg.norm(rot[1] - rot[0])), 1e-6)
    nose_r = rot[2]
    span = mouth_mid[1] - eye_mid[1]
    if span <= 1e-6:
        return 90.0, 90.0
    t = (nose_r[1] - eye_mid[1]) / span
    centre_x = eye_mid[0] + (mouth_mid[0] - eye_mid[0]) * t
    yaw = math.degrees(math.atan((nose_r[0] - centre_x) / eye_dist / _NOSE_DEPTH))
    pitch = math.degrees(math.atan((t - _FRONTAL_NOSE_T) / 0.35))
    return yaw, pitch


def _ramp(x: float, lo: float, hi: float) -> float:
    return float(min(1.0, max(0.0, (x - lo) / (hi - lo))))


def assess(image_bgr: np.ndarray, detection: Detection, gate: QualityGate | None = None,
           pose_landmarks: np.ndarray | None = None) -> Quality:
    """Quality of one detected face; `reasons` lists what fails `gate` (default: the enrolment gate).

    Sharpness and exposure are measured on the face aligned with `detection.landmarks`; the pose on
    `pose_landmarks` when given (the detector's own points: the pose formula is tuned on YuNet's landmark
    geometry, and ONet's nose point, better for alignment, swings too far vertically to read the pitch)."""
    face_px = float(min(detection.width, detection.height))
    aligned = align_face(image_bgr, detection.landmarks)
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    inner = grey[16:104, 16:96]  # skip the borders the warp may fill with black
    sharpness = float(cv2.Laplacian(inner, cv2.CV_64F).var())
    exposure = float(inner.mean() / 255.0)
    yaw, pitch = estimate_pose(detection.landmarks if pose_landmarks is None else pose_landmarks)

    s_size = _ramp(face_px, 24.0, 96.0)
    s_sharp = _ramp(math.log10(max(sharpness, 1.0)), 1.0, 2.3)  # 10 -> 0, 200 -> 1
    s_pose = 1.0 - _ramp(max(abs(yaw) / 45.0, abs(pitch) / 40.0), 0.2, 1.0)
    s_exp = 1.0 - _ramp(abs(exposure - 0.5), 0.25, 0.45)
    score = float((s_size * s_sharp * s_pose * s_exp) ** 0.5 * min(1.0, detection.score / 0.9))
    q = Quality(score=score, face_px=face_px, sharpness=sharpness, yaw=yaw, pitch=pitch, exposure=exposure)
    return Quality(**{**q.__dict__, "reasons": (gate or QualityGate()).reasons(q)})
