"""The demo school (edge_agent/demo/e2e.py) with one more student, "Sơn Thị Mai" (10A1), enrolled from live webcam
photos of ea-nuaa-webcam-15 subject 0001, and a camera video of a *printed photo* of her held up to a camera:
the frames of ea-nuaa-imposter-15 subject 0001 (NUAA's recaptured print attacks), played in their order.
The print matches her templates far above the accept threshold, so without PAD she would be proposed present."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.demo.e2e import DemoSchool, build
from edge_agent.recognition.gallery import Gallery
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.store import school_db
from edge_agent.store.school_keys import GALLERY_KEY, read_key
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image

MAI = "094210000004"
SUBJECT = "0001"
IMAGES, REPEAT, FPS = 14, 3, 12.0  # 14 photos of the print, each shown for 3 frames: 3.5 s at 12 FPS


@dataclass(frozen=True)
class AttackSchool:
    demo: DemoSchool
    video: Path


def attack_frames(datasets: Path) -> list[np.ndarray]:
    """The print-attack frames in the order they were filmed (file names end with the frame number)."""
    folder = datasets / "ea-nuaa-imposter-15" / f"nuaa_{SUBJECT}"
    paths = sorted(folder.glob("*.jpg"), key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.stem)))
    return [load_image(p) for p in paths[:IMAGES]]


def build_attack_school(workdir: Path, store, datasets: Path, pad: str, pad_threshold: float | None = None
                        ) -> AttackSchool:
    demo = build(workdir, store=store)
    analyzer = FaceAnalyzer.from_store(store)
    live = sorted((datasets / "ea-nuaa-webcam-15" / f"nuaa_{SUBJECT}").glob("*.jpg"))[:4]
    templates = [analyzer.analyze(load_image(p))[0].embedding for p in live]
    gallery_path = workdir / "gallery.npz"
    seal = GallerySeal(read_key(workdir / "keys", GALLERY_KEY), "THPT-DEMO")  # the installed file is encrypted
    snap = Gallery.load(gallery_path, seal=seal)._snap  # the demo's templates (Obama, Biden) plus Mai's
    Gallery(np.vstack([snap.embeddings, np.stack(templates)]), [*snap.student_ids, *[MAI] * len(templates)],
            snap.meta).save(gallery_path, seal=seal)
    conn = school_db.connect(demo.db)
    now = school_db.now_iso()
    with school_db.transaction(conn):
        conn.execute("INSERT INTO students (id, full_name, class_id, created_at, updated_at) "
                     "VALUES (?, ?, '10A1', ?, ?)", (MAI, "Sơn Thị Mai", now, now))
        conn.execute("INSERT INTO consents (student_id, purpose, given_by, given_at) VALUES (?, 'attendance', "
                     "'parent', ?)", (MAI, now))
    school_db.close(conn)
    video = workdir / "print-attack.avi"
    frames = attack_frames(datasets)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (w, h))
    assert writer.isOpened()
    for frame in frames:
        for _ in range(REPEAT):
            writer.write(frame)
    writer.release()
    extra = f'\npad = "{pad}"' + (f"\npad_threshold = {pad_threshold}" if pad_threshold is not None else "")
    text = demo.config.read_text(encoding="utf-8").replace('source = "walkby.avi"', f'source = "{video.name}"{extra}')
    text = text.replace("[kiosk]", "[kiosk]\nenabled = false")
    demo.config.write_text(text, encoding="utf-8")
    return AttackSchool(demo, video)
