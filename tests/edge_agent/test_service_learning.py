"""The running service keeps the best frame of a proposed-present track for learning, also when that frame comes
after the accept: the demo school's student walks towards the classroom camera, his face growing from 44 to about
110 px, so the track is accepted on its first, small frames and its best frame comes later
(`VotePolicy.learn_frames`, `RecognitionPipeline.take_better_frames`, `EdgeService._keep_better`)."""

from __future__ import annotations

import sqlite3

import cv2
import numpy as np

from edge_agent.config import load_settings
from edge_agent.demo.e2e import OBAMA, build
from edge_agent.demo.synthetic_stream import MovingFace, MovingFacesStream
from edge_agent.recognition.pipeline import RecognitionPipeline
from edge_agent.recognition.template_store import TemplateCipher
from edge_agent.service import EdgeService
from edge_agent.store.school_keys import GALLERY_KEY, read_key
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.crop import face_crop
from edge_agent.vision.image_io import load_image

FPS, FRAMES = 12.0, 48


def nearing_video(path, store) -> None:
    analyzer = FaceAnalyzer.from_store(store)
    img = load_image(store.samples("face_recognition")["obama3.jpg"])  # never enrolled: his third photo
    crop = face_crop(img, analyzer.detect(img)[0])
    stream = MovingFacesStream([MovingFace([crop], 44, (90.0, 240.0), (8.0, 0.0), bounce=False, grow=1.4)])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, stream.frame_size)
    assert writer.isOpened()
    for i in range(FRAMES):
        writer.write(stream.frame(i))
    writer.release()


def test_the_service_keeps_the_later_better_frame_of_a_track_accepted_early(tmp_path, model_store, monkeypatch):
    demo = build(tmp_path / "school", store=model_store)
    nearing_video(demo.video, model_store)
    decided, better = [], []
    process, take = RecognitionPipeline.process, RecognitionPipeline.take_better_frames

    def spy_process(self, frame, ts):  # observes what the real pipeline returns, changes nothing
        out = process(self, frame, ts)
        decided.extend(out)
        return out

    def spy_take(self):
        out = take(self)
        better.extend(out)
        return out

    monkeypatch.setattr(RecognitionPipeline, "process", spy_process)
    monkeypatch.setattr(RecognitionPipeline, "take_better_frames", spy_take)
    monkeypatch.chdir(demo.workdir)
    service = EdgeService(load_settings(demo.config), with_kiosk=False, with_link=False)
    assert service.run(until_idle=True) == 0

    accepted = [d for d in decided if d.outcome == "accept"]
    assert [d.student_id for d in accepted] == [OBAMA], "one decision: the student, proposed present"
    assert better and all(b.track_id == accepted[0].track_id for b in better)
    best = better[-1]
    assert best.best_quality > accepted[0].best_quality, "a later frame was better than those of the decision"
    conn = sqlite3.connect(demo.db)
    conn.row_factory = sqlite3.Row
    assert conn.execute("SELECT proposal FROM marks WHERE student_id = ?", (OBAMA,)).fetchone()[0] == "present"
    rows = conn.execute("SELECT * FROM sighting_embeddings").fetchall()
    assert len(rows) == 1 and rows[0]["student_id"] == OBAMA and rows[0]["via"] == "proposal"
    row = rows[0]
    assert row["quality"] == best.best_quality and row["score"] == accepted[0].score  # the decision's score
    proposed = {r[0] for r in conn.execute("SELECT json_extract(body, '$.payload.track_id') FROM outbox")}
    assert row["track_id"] in proposed, "the kept frame names the proposal's track"
    cipher = TemplateCipher(read_key(demo.workdir / "keys", GALLERY_KEY), "THPT-DEMO")
    kept = cipher.open(OBAMA, row["model_sha256"], row["nonce"], row["ciphertext"])
    assert np.allclose(kept, best.best_embedding, atol=1e-6), "the better frame's embedding, encrypted at rest"
    conn.close()
