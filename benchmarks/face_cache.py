"""Embeddings of data-set images, computed once with the project's vision stack and cached on disk.

Each image goes through the production code (load_image → detect_padded → YuNetDetector.refine (ONet landmarks) →
norm_crop → embedder); the raw features of the face and of its mirror are both kept so that flip and
no-flip can be compared without a second pass. The cache file is keyed by the sha256 of both models and the image list.
Another embedder (`embedder_name`) reuses the detections and landmarks cached for the same detector and image list,
so only alignment and embedding run again (the crops are the same).
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from edge_agent.vision.align import align_face
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.embedder import normalise
from edge_agent.vision.image_io import ImageError, load_image

PIPELINE_VERSION = "3"  # bump when the detect/align/select code changes (2: refined landmarks, 3: ONet)


def pick_central(dets, shape):
    """The face the photo is about: large and near the centre (insightface FaceAnalysis' rule)."""
    h, w = shape[:2]
    def value(d):
        cx, cy = (d.box[0] + d.box[2]) / 2 - w / 2, (d.box[1] + d.box[3]) / 2 - h / 2
        return d.width * d.height - 2.0 * (cx * cx + cy * cy)
    return max(dets, key=value)


class FaceCache:
    def __init__(self, root: Path, store=None, analyzer: FaceAnalyzer | None = None,
                 embedder_name: str | None = None):
        from models import ModelStore

        self.store = store or ModelStore()
        self.analyzer = analyzer or FaceAnalyzer.from_store(self.store, threads=1, flip=False,
                                                            embedder_name=embedder_name)
        det = self.store.default("detector")
        emb = self.store.entry(embedder_name) if embedder_name else self.store.default("embedder")
        lmk = self.analyzer.detector.landmarker
        lmk_sha = self.store.default("landmarks").final.sha256 if lmk is not None else "none"
        self.det_key = hashlib.sha256(f"{det.final.sha256}|{lmk_sha}|{PIPELINE_VERSION}".encode()).hexdigest()[:16]
        self.root = Path(root)
        self.key = hashlib.sha256(f"{det.final.sha256}|{emb.final.sha256}|{lmk_sha}|{PIPELINE_VERSION}"
                                  .encode()).hexdigest()
        self.models = {"detector": det.name, "embedder": emb.name,
                       "detector_sha256": det.final.sha256, "embedder_sha256": emb.final.sha256}
        self.folder = Path(root) / self.key[:16]

    def get(self, name: str, paths: list[Path]) -> dict[str, np.ndarray]:
        listing = hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:16]
        file = self.folder / f"{name}-{listing}.npz"
        if file.is_file():
            with np.load(file) as z:
                return {k: z[k] for k in z.files}
        data = self._compute(name, paths, self._detections(file.name))
        data["det_key"] = np.asarray(self.det_key)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        tmp.replace(file)
        return data

    def _detections(self, file_name: str) -> dict[str, np.ndarray] | None:
        """Detections of the same images by the same detector, cached for another embedder (or None)."""
        for other in sorted(self.root.glob(f"*/{file_name}")):
            with np.load(other) as z:
                if "det_key" in z.files and str(z["det_key"]) == self.det_key:
                    return {k: z[k] for k in ("found", "padded_retry", "n_faces", "det_score", "quality",
                                              "landmarks")}
        return None

    def _compute(self, name: str, paths: list[Path], known: dict[str, np.ndarray] | None = None
                 ) -> dict[str, np.ndarray]:
        n, d = len(paths), self.analyzer.dim
        raw, raw_flip = np.zeros((n, d), np.float32), np.zeros((n, d), np.float32)
        found = np.zeros(n, bool)
        padded_retry = np.zeros(n, bool)
        n_faces = np.zeros(n, np.int16)
        det_score, quality = np.zeros(n, np.float32), np.zeros(n, np.float32)
        landmarks = np.zeros((n, 5, 2), np.float32)
        detector, embedder = self.analyzer.detector, self.analyzer.embedder
        start = time.perf_counter()
        for i, path in enumerate(paths):
            try:
                img = load_image(path)
            except ImageError as exc:
                print(f"  {exc}", file=sys.stderr)
                continue
            if known is not None:  # same detector and landmarks: align and embed only
                if known["found"][i]:
                    crop = align_face(img, known["landmarks"][i])
                    feats = embedder.features(np.stack([crop, crop[:, ::-1]]))
                    raw[i], raw_flip[i], found[i] = feats[0], feats[1], True
                continue
            dets = detector.detect(img)
            if not dets:
                dets = detector.detect_padded(img)
                padded_retry[i] = bool(dets)
            n_faces[i] = len(dets)
            if dets:
                raw_det = pick_central(dets, img.shape)
                det = detector.refine(img, raw_det)
                crop = align_face(img, det.landmarks)
                feats = embedder.features(np.stack([crop, crop[:, ::-1]]))
                raw[i], raw_flip[i], found[i] = feats[0], feats[1], True
                det_score[i], quality[i] = det.score, self.analyzer.quality(img, raw_det, det).score  # informative
                landmarks[i] = det.landmarks
            if (i + 1) % 1000 == 0:
                rate = (i + 1) / (time.perf_counter() - start)
                print(f"  {name}: {i + 1}/{n} images ({rate:.0f}/s)", file=sys.stderr)
        if known is not None:
            padded_retry, n_faces, det_score = known["padded_retry"], known["n_faces"], known["det_score"]
            quality, landmarks = known["quality"], known["landmarks"]
        return {"paths": np.array([str(p) for p in paths]), "raw": raw, "raw_flip": raw_flip, "found": found,
                "padded_retry": padded_retry, "n_faces": n_faces, "det_score": det_score, "quality": quality,
                "landmarks": landmarks,
                "seconds": np.float64(time.perf_counter() - start)}


def embeddings(data: dict[str, np.ndarray], flip: bool) -> np.ndarray:
    """L2-normalised embeddings as production computes them (zeros where no face was found)."""
    feats = data["raw"] + data["raw_flip"] if flip else data["raw"]
    return normalise(feats) * data["found"][:, None]
