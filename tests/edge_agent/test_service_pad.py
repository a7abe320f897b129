"""Presentation-attack detection in the running service: a printed photo of an enrolled student (NUAA's recaptured
print attacks, tests/edge_agent/pad_school.py) walks past a classroom camera.

- pad = "enforce": the track is never accepted; it is in the teacher's review queue with the reason
  "nghi ngờ ảnh/màn hình" and the best frame's face crop, and a signed `pad.suspected` event records the score,
  threshold and frames;
- pad = "report" (the default): the decision is unchanged (she is proposed present, as without PAD) and the
  score is in the health file;
- PAD is computed once per decided track, from at most `pad_frames` kept views (counted on the real detector);
  pad = "off" keeps and computes nothing and decides the same."""

from __future__ import annotations

import json
import sqlite3

import cv2
import numpy as np
import pytest
from pad_school import MAI, REPEAT, attack_frames, build_attack_school

from edge_agent.config import load_settings
from edge_agent.protocol import verify_obj
from edge_agent.recognition.gallery import Gallery
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.recognition.pipeline import PipelineConfig, RecognitionPipeline
from edge_agent.recognition.recognizer import DecisionThresholds, Recognizer, TrackVoter
from edge_agent.service import EdgeService
from edge_agent.store.school_keys import GALLERY_KEY, read_key
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.pad import REASON_VI, PresentationAttackDetector

pytestmark = pytest.mark.datasets


def run_school(tmp_path, model_store, datasets, monkeypatch, pad):
    school = build_attack_school(tmp_path / pad, model_store, datasets, pad)
    monkeypatch.chdir(school.demo.workdir)
    service = EdgeService(load_settings(school.demo.config), with_kiosk=False, with_link=False)
    assert service.run(until_idle=True) == 0
    health = json.loads((school.demo.workdir / "health.json").read_text(encoding="utf-8"))
    conn = sqlite3.connect(school.demo.db)
    conn.row_factory = sqlite3.Row
    return school, health, conn


def test_enforce_sends_a_printed_photo_to_review_never_present(tmp_path, model_store, datasets, monkeypatch):
    school, health, conn = run_school(tmp_path, model_store, datasets, monkeypatch, "enforce")
    mark = conn.execute("SELECT proposal FROM marks WHERE student_id = ?", (MAI,)).fetchone()
    assert mark["proposal"] is None, "a suspected photo is never proposed present"
    rows = conn.execute("SELECT * FROM review_queue").fetchall()
    assert rows, "the print attack is in the teacher's review queue"
    for r in rows:
        assert (r["suspected_attack"], r["reason"], r["candidate_id"]) == (1, REASON_VI, MAI)
        crop = cv2.imdecode(np.frombuffer(r["crop"], np.uint8), cv2.IMREAD_COLOR)
        assert crop is not None and min(crop.shape[:2]) >= 40, "the best frame's face crop is kept for the teacher"
    key = read_key(school.demo.workdir / "keys")
    events = [json.loads(r[0]) for r in conn.execute("SELECT body FROM outbox ORDER BY seq")]
    assert all(e["kind"] != "attendance.proposed" or e["payload"]["student_id"] != MAI for e in events)
    suspected = [e for e in events if e["kind"] == "pad.suspected"]
    assert len(suspected) == len(rows)
    for e in suspected:
        p = e["payload"]
        assert verify_obj(e, key) and p["student_id"] == MAI and p["source"]["camera_id"] == "a101-door"
        assert p["pad_score"] >= p["pad_threshold"] and 1 <= p["pad_frames"] <= 3
    cam = health["pad"]["cameras"]["a101-door"]
    assert cam["mode"] == "enforce" and cam["suspected"] == len(rows) and cam["ms_per_track"] > 0
    assert health["recognition"]["outcomes"].get("review") == len(rows)
    assert "proposed_present" not in health["recognition"]["outcomes"]
    conn.close()


def test_report_changes_no_decision_and_records_the_score(tmp_path, model_store, datasets, monkeypatch):
    school, health, conn = run_school(tmp_path, model_store, datasets, monkeypatch, "report")
    mark = conn.execute("SELECT proposal FROM marks WHERE student_id = ?", (MAI,)).fetchone()
    assert mark["proposal"] == "present", "report-only: the recogniser's decision stands"
    assert conn.execute("SELECT COUNT(*) FROM review_queue WHERE suspected_attack = 1").fetchone()[0] == 0
    kinds = [r[0] for r in conn.execute("SELECT kind FROM outbox")]
    assert "pad.suspected" not in kinds and "attendance.proposed" in kinds
    cam = health["pad"]["cameras"]["a101-door"]
    assert cam["mode"] == "report" and cam["scored"] >= 1 and 0.0 < cam["threshold"] < 1.0
    assert cam["suspected"] >= 1 and max(cam["recent_scores"]) >= cam["threshold"], "the attack's score is recorded"
    conn.close()


class CountingPad(PresentationAttackDetector):
    """The real detector, counting its track and frame computations."""

    tracks = frames = 0

    def score_track(self, frames, max_frames=3):
        self.tracks += 1
        return super().score_track(frames, max_frames)

    def score(self, frame_bgr, detection):
        self.frames += 1
        return super().score(frame_bgr, detection)


def test_pad_is_computed_once_per_track_from_bounded_views(tmp_path, model_store, datasets):
    school = build_attack_school(tmp_path, model_store, datasets, "report")
    seal = GallerySeal(read_key(school.demo.workdir / "keys", GALLERY_KEY), "THPT-DEMO")
    gallery = Gallery.load(school.demo.workdir / "gallery.npz", seal=seal)
    analyzer = FaceAnalyzer.from_store(model_store)
    frames = [f for f in attack_frames(datasets) for _ in range(REPEAT)]
    pad = CountingPad(model_store.path(model_store.default("liveness").name)).prepare()

    def play(detector):
        pipe = RecognitionPipeline(analyzer.detector, analyzer.embedder,
                                   TrackVoter(Recognizer(gallery, DecisionThresholds.calibrated())),
                                   PipelineConfig(), pad=detector)
        decisions, most_views = [], 0
        for i, frame in enumerate(frames):
            decisions += pipe.process(frame, i / 12)
            most_views = max([most_views, *(len(t.pad_views) for t in pipe.tracker.tracks)])
        return decisions + pipe.finish(), most_views, pipe

    with_pad, most_views, pipe = play(pad)
    assert with_pad and pad.tracks == len(with_pad) == pipe.stats.pad_tracks, "once per decided track"
    assert 1 <= pad.frames <= 3 * len(with_pad) < len(frames), "a few best frames per track, not every frame"
    assert 1 <= most_views <= 3, "the tracker keeps at most pad_frames views of a track"
    assert all(d.pad is not None and d.pad.attack and d.pad.best is not None for d in with_pad)
    without, views_off, pipe_off = play(None)
    assert views_off == 0 and pipe_off.stats.pad_tracks == 0 and all(d.pad is None for d in without)
    assert [(d.outcome, d.student_id) for d in without] == [(d.outcome, d.student_id) for d in with_pad]
    assert [d.outcome for d in with_pad].count("accept") >= 1, "without PAD the print would be accepted"


@pytest.mark.parametrize(("line", "field"), [('pad = "strict"', "pad"), ("pad_threshold = 1.5", "pad_threshold"),
                                             ("pad_threshold = 0", "pad_threshold")])
def test_bad_pad_settings_are_refused_with_the_field(tmp_path, line, field):
    from edge_agent.config import ConfigError

    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'school_code = "THPT-X"\n[[cameras]]\nname = "cong"\nsource = 0\nrole = "gate"\n{line}\n',
                   encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"cameras\.0\.{field}"):
        load_settings(cfg)
    cfg.write_text('school_code = "THPT-X"\n[[cameras]]\nname = "cong"\nsource = 0\nrole = "gate"\n',
                   encoding="utf-8")
    assert load_settings(cfg).cameras[0].pad == "report", "report-only is the default"
