"""The people and the corridor video of the multi-day walk-by (benchmarks/walkby.py).

People, from ../shared/datasets (internal evaluation only):
- the class (roster): the ea-nuaa-webcam-15 subjects photographed in 2+ sessions, enrolled from two
  photos of their first session and walking in photos of their later sessions; then East-Asian LFW
  identities with 3+ images, enrolled from their first two images and walking in the others;
- other classes of the school (enrolled, never walking here): the remaining East-Asian LFW identities
  with 3+ images;
- strangers (never enrolled): the single-session ea-nuaa-webcam-15 subjects, East-Asian LFW identities
  with exactly two images and random non-Asian LFW identities.
Video: 640x480 at 15 FPS, JPEG quality 70; each walker is one real photo (a new one drawn each day) whose
face crosses the corridor, growing from 36-50 px (`FACE_PX`; walkby.py --face-px) to 1.3-1.7 times that as
it nears the camera, with per-walk lighting and focus blur and per-frame sensor noise and motion blur;
walkers enter every 6-12 frames and take 2-2.7 s to cross, so 3-5 overlap and some cross paths.
The pasted face boxes are the ground truth that tracks are matched to.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.demo.synthetic_stream import textured_background
from edge_agent.vision.crop import face_crop
from edge_agent.vision.image_io import load_image

FPS = 15
SIZE = (640, 480)
MARGIN = 0.45  # face crop margin (of the face size, each side)
FACE_PX = (36.0, 50.0)  # face size (px) when a walker enters: smaller than hardware/README.md asks, on purpose
GROWTH = (1.3, 1.7)  # factor by which the face grows as it nears the camera


@dataclass(frozen=True)
class Person:
    pid: str
    enrol: tuple[Path, ...]  # enrolment photos (empty for strangers)
    walk: tuple[Path, ...]  # photos the person may walk in
    kind: str  # "roster", "other" (another class) or "stranger"


@dataclass
class Walker:
    person: Person
    crop: np.ndarray  # square face crop (face in the middle, MARGIN around it)
    start: int  # first frame
    length: int  # frames in view
    x0: float
    x1: float
    y: float
    size0: float  # face size (px) when entering
    size1: float  # ... and when leaving
    gain: float  # lighting of this walk
    seed: int
    blur: float = 0.0  # focus blur of this walk (Gaussian sigma in pixels of the frame)

    def face_box(self, frame: int) -> np.ndarray | None:
        t = (frame - self.start) / max(self.length - 1, 1)
        if not 0.0 <= t <= 1.0:
            return None
        size = self.size0 + (self.size1 - self.size0) * t
        cx = self.x0 + (self.x1 - self.x0) * t
        cy = self.y + 6.0 * np.sin(t * 6 * np.pi)  # the bob of a walk
        return np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2], np.float32)


def people(ds: Path, roster_size: int = 40, seed: int = 0) -> list[Person]:
    rng = np.random.default_rng(seed)
    nuaa = ds / "ea-nuaa-webcam-15"
    by_session: dict[str, dict[int, list[Path]]] = {}
    for p in sorted(nuaa.glob("nuaa_*/*.jpg")):
        by_session.setdefault(p.parent.name, {}).setdefault(int(p.stem.split("_")[3]), []).append(p)
    out: list[Person] = []
    strangers: list[Person] = []
    for subject, sessions in sorted(by_session.items()):
        keys = sorted(sessions)
        if len(keys) >= 2:
            first = sessions[keys[0]]
            enrol = (first[0], first[len(first) // 2])
            walk = tuple(p for k in keys[1:] for p in sessions[k])
            out.append(Person(subject, enrol, walk, "roster"))
        else:
            strangers.append(Person(subject, (), tuple(sessions[keys[0]]), "stranger"))
    lfw = ds / "lfw-deepfunneled" / "images"
    with open(ds / "ea-lfw-asian-subset" / "identities.csv", newline="") as fh:
        asian = sorted({row["identity"] for row in csv.DictReader(fh)})
    three, two = [], []
    for name in asian:
        imgs = sorted((lfw / name).glob("*.jpg"))
        (three if len(imgs) >= 3 else two).append((name, imgs))
    order = rng.permutation(len(three))
    for i in order:
        name, imgs = three[i]
        kind = "roster" if len(out) < roster_size else "other"
        out.append(Person(name, tuple(imgs[:2]), tuple(imgs[2:]), kind))
    strangers += [Person(name, (), tuple(imgs), "stranger") for name, imgs in two]
    others = sorted(d.name for d in lfw.iterdir() if d.is_dir() and d.name not in set(asian))
    for name in rng.choice(others, size=60, replace=False).tolist():
        strangers.append(Person(name, (), tuple(sorted((lfw / name).glob("*.jpg"))), "stranger"))
    return out + strangers


class CropSource:
    """Square face crops of photos (detected once with the project's detector), cached."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self._cache: dict[Path, np.ndarray | None] = {}

    def crop(self, path: Path) -> np.ndarray | None:
        if path not in self._cache:
            img = load_image(path)
            dets = self.detector.detect(img) or self.detector.detect_padded(img)
            if not dets:
                self._cache[path] = None
            else:
                h, w = img.shape[:2]
                det = max(dets, key=lambda d: d.width * d.height - 2.0 * (
                    ((d.box[0] + d.box[2]) / 2 - w / 2) ** 2 + ((d.box[1] + d.box[3]) / 2 - h / 2) ** 2))
                self._cache[path] = face_crop(img, det, margin=MARGIN)
        return self._cache[path]


def schedule(walkers_of_day: list[Person], crops: CropSource, day: int, seed: int = 0,
             face_px: tuple[float, float] = FACE_PX) -> list[Walker]:
    """The day's walkers in a random order, each with one random photo of theirs and a random path; a face
    enters at a size drawn from `face_px` (px) and grows 1.3-1.7 times as it nears the camera."""
    rng = np.random.default_rng(seed * 1000 + day)
    order = rng.permutation(len(walkers_of_day))
    out: list[Walker] = []
    frame = 5
    w, h = SIZE
    for k, i in enumerate(order):
        person = walkers_of_day[i]
        crop = None
        for j in rng.permutation(len(person.walk)):
            crop = crops.crop(person.walk[j])
            if crop is not None:
                break
        if crop is None:
            continue
        length = int(rng.integers(30, 41))
        left_to_right = bool(rng.integers(0, 2))
        x0, x1 = (-40.0, w + 40.0) if left_to_right else (w + 40.0, -40.0)
        size0 = float(rng.uniform(*face_px))
        out.append(Walker(person, crop, frame, length, x0, x1, float(rng.uniform(120, 360)), size0,
                          size0 * float(rng.uniform(*GROWTH)), float(rng.uniform(0.75, 1.15)),
                          int(rng.integers(1 << 30)) + k, float(rng.uniform(0.4, 1.2))))
        frame += int(rng.integers(6, 13))
    return out


class WalkVideo:
    """Renders the frames of one day's walk; `truth(i)` gives (walker index, face box) in frame i."""

    def __init__(self, walkers: list[Walker], seed: int = 0) -> None:
        self.walkers = walkers
        self.background = textured_background(SIZE, seed).astype(np.float32)
        self.n_frames = max(wk.start + wk.length for wk in walkers) + 10
        self._masks: dict[int, np.ndarray] = {}

    def _mask(self, side: int) -> np.ndarray:
        if side not in self._masks:
            m = np.zeros((side, side), np.float32)
            cv2.ellipse(m, (side // 2, side // 2), (int(side * 0.40), int(side * 0.48)), 0, 0, 360, 1.0, -1)
            self._masks[side] = cv2.GaussianBlur(m, (0, 0), side * 0.05)[:, :, None]
        return self._masks[side]

    def truth(self, i: int) -> list[tuple[int, np.ndarray]]:
        return [(k, b) for k, wk in enumerate(self.walkers) if (b := wk.face_box(i)) is not None]

    def frame(self, i: int) -> np.ndarray:
        img = self.background.copy()
        w, h = SIZE
        rng = np.random.default_rng(i)
        # farther walkers first: a nearer (bigger) face hides a farther one where they cross
        for k, box in sorted(self.truth(i), key=lambda kb: kb[1][2] - kb[1][0]):
            wk = self.walkers[k]
            side = int(round((box[2] - box[0]) * (1 + 2 * MARGIN)))
            crop = cv2.resize(wk.crop, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) * wk.gain
            if wk.blur > 0:  # out of focus / low-cost optics
                crop = cv2.GaussianBlur(crop, (0, 0), wk.blur)
            if rng.random() < 0.3:  # motion blur along the walk
                kern = np.zeros((5, 5), np.float32)
                kern[2, :] = 1 / 5
                crop = cv2.filter2D(crop, -1, kern)
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
            xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
            if xa >= xb or ya >= yb:
                continue
            m = self._mask(side)[ya - y0:yb - y0, xa - x0:xb - x0]
            img[ya:yb, xa:xb] = img[ya:yb, xa:xb] * (1 - m) + crop[ya - y0:yb - y0, xa - x0:xb - x0] * m
        img += rng.normal(0, 4.0, img.shape).astype(np.float32)  # sensor noise
        out = np.clip(img, 0, 255).astype(np.uint8)
        ok, jpg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 70])  # the camera's compression
        return cv2.imdecode(jpg, cv2.IMREAD_COLOR) if ok else out
