"""The PAD data: NUAA live vs print-attack frames, their faces found by the project's detector, and features.

Shared by the training script (benchmarks/train_pad.py) and the benchmark (benchmarks/pad.py), so both see
exactly the crops the camera pipeline would: load_image -> YuNet (largest / most central face, padded retry)
-> ONet landmarks (the points faces are aligned on) -> `pad_features`. Detections are cached on disk keyed
by the detector and landmarker sha256 and this file's DETECT_VERSION; features are always recomputed.

Live = ea-nuaa-webcam-15/nuaa_<ID> (label 0), attack = ea-nuaa-imposter-15/nuaa_<ID> (label 1); the label
comes from the folder, never from the file name (the two folders reuse names). A "track" is one
(class, subject, glasses, position, session) group of consecutive video frames.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import ImageError, load_image
from edge_agent.vision.pad_features import N_FEATURES, PadInputError, pad_features
from edge_agent.vision.types import Detection

DETECT_VERSION = "1"
LIVE, ATTACK = "ea-nuaa-webcam-15", "ea-nuaa-imposter-15"


@dataclass
class PadSet:
    paths: list[Path]
    label: np.ndarray  # 1 = attack (presentation attack instrument), 0 = live (bona fide)
    subject: np.ndarray  # "0001" ...
    track: np.ndarray  # group key: label/subject/glasses/position/session
    session: np.ndarray


def folder_set(live: Path, attack: Path) -> PadSet:
    """Live and attack photos, one subfolder per person in each (the same folder name = the same person).

    NUAA file names (`<ID>_<glasses>_<position>_<session>_<frame>.jpg`) give the track and session; other
    names make each (class, person, subfolder) one track. This is how a province retrains on its own data."""
    paths, label, subject, track, session = [], [], [], [], []
    for lab, root in ((0, Path(live)), (1, Path(attack))):
        files = sorted(p for p in root.glob("*/**/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for p in files:
            person = p.relative_to(root).parts[0].removeprefix("nuaa_")
            parts = p.stem.split("_")
            if len(parts) == 5 and all(x.isdigit() for x in parts):
                group, sess = "/".join(parts[1:4]), int(parts[3])
            else:
                group, sess = str(p.parent.relative_to(root)), 0
            paths.append(p), label.append(lab), subject.append(person), session.append(sess)
            track.append(f"{lab}/{person}/{group}")
    if not paths or len(set(label)) < 2:
        raise SystemExit(f"need live photos under {live} and attack photos under {attack}, "
                         "one subfolder per person")
    return PadSet(paths, np.array(label), np.array(subject), np.array(track), np.array(session))


def nuaa_set(ds: Path) -> PadSet:
    return folder_set(ds / LIVE, ds / ATTACK)


def pick_central(dets: list[Detection], shape) -> Detection:
    """The face the frame is about: large and near the centre (as benchmarks/face_cache.py)."""
    h, w = shape[:2]

    def value(d):
        cx, cy = (d.box[0] + d.box[2]) / 2 - w / 2, (d.box[1] + d.box[3]) / 2 - h / 2
        return d.width * d.height - 2.0 * (cx * cx + cy * cy)
    return max(dets, key=value)


class DetectionCache:
    """Boxes and refined landmarks of the central face of each image (found = False where none)."""

    def __init__(self, root: Path, store=None, analyzer: FaceAnalyzer | None = None):
        from models import ModelStore

        self.store = store or ModelStore()
        self.analyzer = analyzer or FaceAnalyzer.from_store(self.store, threads=1)
        det, lmk = self.store.default("detector"), self.store.default("landmarks")
        key = f"{det.final.sha256}|{lmk.final.sha256}|{DETECT_VERSION}"
        self.folder = Path(root) / ("pad-" + hashlib.sha256(key.encode()).hexdigest()[:16])

    def get(self, name: str, paths: list[Path]) -> dict[str, np.ndarray]:
        listing = hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:16]
        file = self.folder / f"{name}-{listing}.npz"
        if file.is_file():
            with np.load(file) as z:
                return {k: z[k] for k in z.files}
        data = self.compute(paths)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        tmp.replace(file)
        return data

    def detect(self, img: np.ndarray) -> Detection | None:
        dets = self.analyzer.detect(img, padded=True)
        if not dets:
            return None
        return self.analyzer.refine(img, [pick_central(dets, img.shape)])[0]

    def compute(self, paths: list[Path]) -> dict[str, np.ndarray]:
        n = len(paths)
        boxes, lmks, found = np.zeros((n, 4), np.float32), np.zeros((n, 5, 2), np.float32), np.zeros(n, bool)
        for i, path in enumerate(paths):
            try:
                img = load_image(path)
            except ImageError as exc:
                print(f"  {exc}", file=sys.stderr)
                continue
            det = self.detect(img)
            if det is not None:
                boxes[i], lmks[i], found[i] = det.box, det.landmarks, True
            if (i + 1) % 200 == 0:
                print(f"  detected {i + 1}/{n}", file=sys.stderr)
        return {"box": boxes, "landmarks": lmks, "found": found}


def features_of(paths: list[Path], dets: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(N, N_FEATURES) features and a usable mask (a face was found and could be scored)."""
    x = np.zeros((len(paths), N_FEATURES), np.float32)
    ok = dets["found"].copy()
    for i in np.flatnonzero(ok):
        det = Detection(box=dets["box"][i], landmarks=dets["landmarks"][i], score=1.0)
        try:
            x[i] = pad_features(load_image(paths[i]), det)
        except PadInputError:
            ok[i] = False
    return x, ok
