"""Fixtures of the matching tests: the real analyzer and real embeddings of real webcam photos.

ea-nuaa-webcam-15: 15 East-Asian adults photographed by a webcam in up to 3 sessions. Subjects with two
or more sessions are enrolled from one session and probed with another (as a student enrolled from
an ID-photo day and seen weeks later); subjects 0010-0015 are never enrolled and serve as strangers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from matching_data import ENROLLED, STRANGERS


@dataclass(frozen=True)
class Photo:
    subject: str
    session: str
    path: Path
    embedding: np.ndarray


@pytest.fixture(scope="session")
def analyzer(model_store):
    from edge_agent.vision.analyzer import FaceAnalyzer

    return FaceAnalyzer.from_store(model_store, threads=1)


def _session(path: Path) -> str:
    return path.stem.split("_")[3]  # <ID>_<glasses>_<position>_<session>_<frame>


@pytest.fixture(scope="session")
def nuaa_photos(datasets, analyzer) -> dict[str, list[Photo]]:
    """Up to 6 photos per (subject, session), embedded by the real pipeline."""
    from edge_agent.vision.image_io import load_image

    root = datasets / "ea-nuaa-webcam-15"
    out: dict[str, list[Photo]] = {}
    for subject in ENROLLED + STRANGERS:
        by_session: dict[str, list[Path]] = defaultdict(list)
        for p in sorted((root / f"nuaa_{subject}").glob("*.jpg")):
            by_session[_session(p)].append(p)
        photos = []
        for session, paths in sorted(by_session.items()):
            for p in paths[:: max(1, len(paths) // 6)][:6]:
                faces = analyzer.analyze(load_image(p))
                if faces:
                    photos.append(Photo(subject, session, p, faces[0].embedding))
        out[subject] = photos
    return out


@pytest.fixture(scope="session")
def enrolment(nuaa_photos):
    """(embeddings, student_ids): the first session of each enrolled subject, as student id S<subject>."""
    embs, ids = [], []
    for subject in ENROLLED:
        first = min(p.session for p in nuaa_photos[subject])
        for p in nuaa_photos[subject]:
            if p.session == first:
                embs.append(p.embedding)
                ids.append(f"S{subject}")
    return np.stack(embs), ids


@pytest.fixture(scope="session")
def probes(nuaa_photos):
    """{subject: (n, D) embeddings from sessions the subject was NOT enrolled from} (enrolled subjects)."""
    out = {}
    for subject in ENROLLED:
        first = min(p.session for p in nuaa_photos[subject])
        out[subject] = np.stack([p.embedding for p in nuaa_photos[subject] if p.session != first])
    return out


@pytest.fixture(scope="session")
def gallery_meta(model_store):
    from edge_agent.recognition.gallery import GalleryMeta

    entry = model_store.default("embedder")
    return GalleryMeta(model_name=entry.name, model_sha256=entry.final.sha256, version="test")


@pytest.fixture(scope="session")
def thresholds():
    """The calibrated decision thresholds of edge_agent/recognition/thresholds.toml."""
    from edge_agent.recognition.recognizer import DecisionThresholds

    return DecisionThresholds.calibrated()


@pytest.fixture()
def school(enrolment, gallery_meta):
    """A fresh gallery of the enrolled subjects (tests may change it)."""
    from edge_agent.recognition.gallery import Gallery

    embs, ids = enrolment
    return Gallery(embs, ids, gallery_meta)
