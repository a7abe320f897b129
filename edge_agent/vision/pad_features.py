"""Hand-crafted presentation-attack cues of one detected face: the input vector of the PAD model.

A photo or a screen held up to a camera is an image of an image. Its recapture leaves traces the
camera can see, which these features measure (every one is a ratio, histogram or log-energy, so none
depends on the face's size in pixels or on the camera's resolution):

- face texture: uniform LBP histograms (P=8) of the aligned face in the Y, Cr, Cb, H and S channels
  (print dots and the printer's / screen's colour gamut change the micro-texture of the chroma
  channels: Boulkenafet et al., "Face anti-spoofing based on color texture analysis", 2015);
- frequency: the radial power spectrum of the face (recapture blurs, halftone and pixel grids add
  peaks, "moiré"), the strongest high-frequency peak against the median;
- sharpness, specular highlights and dynamic range of the face (paper has a narrower range);
- colour statistics of the face in YCrCb and HSV;
- the frame around the face: LBP and gradient orientations in a ring around the face, and the
  longest straight edges there (the border of a sheet of paper or a phone's bezel).

`FEATURE_VERSION` names this exact list; a model trained on another version is refused at load time.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

from edge_agent.vision.align import align_face
from edge_agent.vision.types import Detection

FEATURE_VERSION = "pad-features-1"
MIN_FACE_PX = 32.0  # smaller faces carry too little texture to judge (the pipeline then waits for a nearer frame)
CONTEXT_SCALE = 2.4  # side of the context square / the face box's longer side
CONTEXT_SIZE = 128
_LBP_BINS = 10  # uniform LBP with P=8: values 0..9
_BANDS = np.array([0.0, 0.04, 0.08, 0.13, 0.19, 0.26, 0.34, 0.43, 0.55, 0.71])  # radius / (size/2)


class PadInputError(ValueError):
    """The frame or detection cannot be scored (what is wrong is in the message)."""


def check_input(frame_bgr: np.ndarray, detection: Detection) -> None:
    if not isinstance(frame_bgr, np.ndarray) or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.size == 0:
        raise PadInputError("PAD needs a non-empty (H, W, 3) BGR frame")
    if frame_bgr.dtype != np.uint8:
        raise PadInputError(f"PAD needs a uint8 frame, got {frame_bgr.dtype}")
    box = np.asarray(getattr(detection, "box", None), dtype=np.float64)
    lmk = np.asarray(getattr(detection, "landmarks", None), dtype=np.float64)
    if box.shape != (4,) or lmk.shape != (5, 2) or not (np.all(np.isfinite(box)) and np.all(np.isfinite(lmk))):
        raise PadInputError("PAD needs a detection with a finite (4,) box and (5, 2) landmarks")
    w, h = box[2] - box[0], box[3] - box[1]
    if min(w, h) < MIN_FACE_PX:
        raise PadInputError(f"face too small for PAD ({min(w, h):.0f} px < {MIN_FACE_PX:.0f} px)")
    fh, fw = frame_bgr.shape[:2]
    if box[2] <= 0 or box[3] <= 0 or box[0] >= fw or box[1] >= fh:
        raise PadInputError("the detection box lies outside the frame")


def _lbp_hist(channel: np.ndarray, mask: np.ndarray | None = None, radius: float = 1.0) -> np.ndarray:
    codes = local_binary_pattern(channel, 8, radius, method="uniform")
    values = codes[mask] if mask is not None else codes.ravel()
    hist = np.bincount(values.astype(np.int64), minlength=_LBP_BINS)[:_LBP_BINS].astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def _spectrum(grey: np.ndarray) -> np.ndarray:
    """Log power of `grey` in radial bands, relative to the total, and the high-band peak ratio."""
    n = grey.shape[0]
    g = grey.astype(np.float64)
    g = (g - g.mean()) * np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    yy, xx = np.indices(power.shape) - n // 2
    radius = np.hypot(xx, yy) / (n / 2)
    total = power.sum() + 1e-9
    bands = [power[(radius >= lo) & (radius < hi)].sum() for lo, hi in zip(_BANDS[1:-1], _BANDS[2:], strict=True)]
    high = power[(radius >= 0.26) & (radius < 0.95)]
    peak = np.log10((high.max() + 1e-9) / (np.median(high) + 1e-9))
    return np.array([*np.log10(np.asarray(bands) / total + 1e-12), peak])


def _context(frame_bgr: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The square around the face (CONTEXT_SCALE x its size) at CONTEXT_SIZE px, and the ring mask:
    pixels inside the frame and outside the face box (enlarged by 15 %)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = CONTEXT_SCALE * max(box[2] - box[0], box[3] - box[1])
    s = CONTEXT_SIZE / side
    m = np.array([[s, 0, CONTEXT_SIZE / 2 - s * cx], [0, s, CONTEXT_SIZE / 2 - s * cy]], np.float32)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(frame_bgr, m, (CONTEXT_SIZE, CONTEXT_SIZE), flags=interp, borderMode=cv2.BORDER_CONSTANT)
    inside = cv2.warpAffine(np.full(frame_bgr.shape[:2], 255, np.uint8), m, (CONTEXT_SIZE, CONTEXT_SIZE),
                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) > 0
    half = 1.15 * s * max(box[2] - box[0], box[3] - box[1]) / 2
    yy, xx = np.indices((CONTEXT_SIZE, CONTEXT_SIZE)) - CONTEXT_SIZE / 2
    ring = inside & ((np.abs(xx) > half) | (np.abs(yy) > half))
    return crop, ring


def _ring_features(crop: np.ndarray, ring: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if ring.sum() < 200:  # the face fills the frame: no surroundings to judge
        return np.zeros(N_RING_FEATURES)
    lbp = _lbp_hist(grey, ring)
    gx = cv2.Sobel(grey, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_64F, 0, 1, ksize=3)
    mag, ang = np.hypot(gx, gy)[ring], (np.arctan2(gy, gx)[ring] % np.pi)
    orient = np.bincount(np.minimum((ang / np.pi * 8).astype(np.int64), 7), weights=mag, minlength=8)
    orient = orient / (orient.sum() + 1e-9)
    edges = cv2.Canny(grey, 50, 150)
    edges[~ring] = 0
    lines = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=30, minLineLength=CONTEXT_SIZE // 5, maxLineGap=3)
    seg = np.zeros((0, 4)) if lines is None else np.asarray(lines, np.float64).reshape(-1, 4)
    lengths = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    line_feats = [float(np.max(lengths)) / CONTEXT_SIZE if len(lengths) else 0.0, np.log1p(len(lengths))]
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    colour = [hsv[:, :, 1][ring].mean() / 255.0, grey[ring].std() / 255.0]
    return np.array([*lbp, *orient, np.log10(mag.mean() + 1.0), *line_feats, *colour])


def pad_region(frame_bgr: np.ndarray, detection: Detection) -> tuple[np.ndarray, Detection]:
    """The part of the frame PAD reads (the context square, clipped to the frame) and the detection moved
    into it: a tracker keeps this instead of the whole frame, and `pad_features` of the pair equals
    `pad_features` of the frame (up to float rounding)."""
    check_input(frame_bgr, detection)
    box = np.asarray(detection.box, np.float64)
    half = CONTEXT_SCALE * max(box[2] - box[0], box[3] - box[1]) / 2 + 2  # +2 px for the resampling kernel
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    h, w = frame_bgr.shape[:2]
    x0, y0 = max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half)))
    x1, y1 = min(w, int(np.ceil(cx + half)) + 1), min(h, int(np.ceil(cy + half)) + 1)
    shift = np.array([x0, y0], np.float32)
    moved = Detection(box=(detection.box - np.tile(shift, 2)).astype(np.float32),
                      landmarks=(detection.landmarks - shift).astype(np.float32), score=detection.score)
    return np.ascontiguousarray(frame_bgr[y0:y1, x0:x1]), moved


def pad_features(frame_bgr: np.ndarray, detection: Detection) -> np.ndarray:
    """The feature vector (float32) of one face: `detection` must come from the project's detector
    (box and 5 landmarks in `frame_bgr`'s pixels); raises `PadInputError` on unusable input."""
    check_input(frame_bgr, detection)
    face = align_face(frame_bgr, detection.landmarks)[8:104, 8:104]  # inner 96 px: no warp border
    ycc = cv2.cvtColor(face, cv2.COLOR_BGR2YCrCb)
    hsv = cv2.cvtColor(face, cv2.COLOR_BGR2HSV)
    y = ycc[:, :, 0]
    texture = [_lbp_hist(c) for c in (y, ycc[:, :, 1], ycc[:, :, 2], hsv[:, :, 0], hsv[:, :, 1])]
    texture.append(_lbp_hist(y, radius=2.0))
    lap = cv2.Laplacian(y, cv2.CV_64F)
    v = hsv[:, :, 2]
    p5, p95 = np.percentile(y, [5, 95])
    photometric = [np.log10(lap.var() + 1.0), (v > 240).mean(), ((hsv[:, :, 1] < 25) & (v > 230)).mean(),
                   (p95 - p5) / 255.0, y.std() / 255.0]
    colour = [ycc[:, :, 1].mean() / 255.0, ycc[:, :, 1].std() / 255.0, ycc[:, :, 2].mean() / 255.0,
              ycc[:, :, 2].std() / 255.0, hsv[:, :, 1].mean() / 255.0, hsv[:, :, 1].std() / 255.0]
    crop, ring = _context(frame_bgr, np.asarray(detection.box, np.float64))
    out = np.concatenate([*texture, _spectrum(y), photometric, colour, _ring_features(crop, ring)])
    return out.astype(np.float32)


N_RING_FEATURES = _LBP_BINS + 8 + 1 + 2 + 2  # the last ones: the frame around the face
N_FEATURES = 6 * _LBP_BINS + (len(_BANDS) - 2) + 1 + 5 + 6 + N_RING_FEATURES
