"""Open-set decisions on real photos: enrolled students recognised, strangers never taken for someone."""

from __future__ import annotations

import numpy as np
import pytest
from matching_data import ENROLLED, STRANGERS

from edge_agent.recognition.gallery import Gallery
from edge_agent.recognition.recognizer import DecisionThresholds, Recognizer, TrackVoter, VotePolicy

pytestmark = pytest.mark.datasets


def test_calibrated_thresholds_are_ordered(thresholds):
    assert 0.0 < thresholds.review < thresholds.accept <= thresholds.strict < 1.0
    assert 0.0 < thresholds.margin < 0.5


def test_enrolled_student_is_recognised_from_another_session(school, thresholds, probes):
    rec = Recognizer(school, thresholds, roster=[f"S{s}" for s in ENROLLED])
    for subject in ENROLLED:
        verdict = rec.decide(probes[subject][:5])
        assert verdict.outcome == "accept", (subject, verdict)
        assert verdict.student_id == f"S{subject}"
        assert verdict.scope == "roster" and not verdict.other_class
        assert verdict.score >= thresholds.accept and verdict.margin >= thresholds.margin


def test_stranger_is_never_recorded_as_someone_else(school, thresholds, nuaa_photos):
    roster = [f"S{s}" for s in ENROLLED]
    rec = Recognizer(school, thresholds, roster=roster)
    outcomes = {}
    for subject in STRANGERS:
        embs = np.stack([p.embedding for p in nuaa_photos[subject]])
        for start in range(0, len(embs) - 4, 5):  # several 5-frame "tracks" of each stranger
            verdict = rec.decide(embs[start:start + 5])
            assert verdict.outcome != "accept", (subject, verdict)
            outcomes.setdefault(subject, []).append(verdict.outcome)
    # strangers stay unknown (the review band is for near misses, not for everyone)
    flat = [o for v in outcomes.values() for o in v]
    assert flat.count("unknown") == len(flat), outcomes


def test_gate_camera_strangers_are_not_accepted_with_track_voting(school, thresholds, nuaa_photos):
    rec = Recognizer(school, thresholds, roster=None)  # a gate camera: whole school, strict threshold
    for subject in STRANGERS:
        embs = np.stack([p.embedding for p in nuaa_photos[subject]])
        for start in range(0, len(embs) - 4, 5):
            verdict = rec.decide(embs[start:start + 5])
            assert verdict.outcome != "accept", (subject, verdict)
            assert verdict.scope == "school"


def test_student_of_another_class_is_flagged_not_taken_for_a_classmate(school, thresholds, probes):
    roster = ["S0004", "S0006", "S0007"]  # S0001 belongs to another class
    rec = Recognizer(school, thresholds, roster=roster)
    verdict = rec.decide(probes["0001"][:5])
    assert verdict.student_id not in roster
    if verdict.outcome == "accept":
        assert verdict.student_id == "S0001" and verdict.scope == "school" and verdict.other_class
        assert verdict.score >= thresholds.strict
    else:  # not sure enough for the strict whole-school threshold: never a classmate
        assert verdict.outcome == "unknown"


def test_margin_rejects_two_students_with_the_same_face(enrolment, gallery_meta, thresholds, probes):
    embs, ids = enrolment
    twin = [i for i, s in enumerate(ids) if s == "S0005"]
    g = Gallery(np.concatenate([embs, embs[twin]]), ids + ["S9999"] * len(twin), gallery_meta)
    rec = Recognizer(g, thresholds, roster=sorted(set(ids)) + ["S9999"])
    verdict = rec.decide(probes["0005"][:5])
    assert verdict.score >= thresholds.accept  # high enough ...
    assert verdict.margin < thresholds.margin  # ... but it does not beat the other student
    assert verdict.outcome == "review" and verdict.student_id in {"S0005", "S9999"}


def test_removed_student_is_no_longer_recognised(school, thresholds, probes):
    rec = Recognizer(school, thresholds, roster=[f"S{s}" for s in ENROLLED])
    assert rec.decide(probes["0007"][:5]).student_id == "S0007"
    school.remove("S0007")
    verdict = rec.decide(probes["0007"][:5])
    assert verdict.outcome == "unknown" and verdict.student_id is None


def test_one_decision_per_track_from_several_frames(school, thresholds, probes):
    policy = VotePolicy(min_frames=3, best_n=5, embed_every=1)
    voter = TrackVoter(Recognizer(school, thresholds, roster=[f"S{s}" for s in ENROLLED]), policy)
    decisions = []
    for frame, emb in enumerate(probes["0004"]):
        if voter.wants_embedding(7, frame, quality=0.8):
            d = voter.add(7, frame, ts=frame / 25, quality=0.8, embedding=emb)
            if d is not None:
                decisions.append(d)
    assert voter.finish(7) is None  # already decided: nothing more when the track ends
    assert len(decisions) == 1
    d = decisions[0]
    assert (d.track_id, d.outcome, d.student_id, d.frames_used) == (7, "accept", "S0004", 3)
    assert d.first_ts == 0.0 and d.last_ts == pytest.approx(2 / 25)
    out = d.to_json_dict()
    assert out["student_id"] == "S0004" and out["candidate_id"] is None


def test_stranger_track_is_decided_unknown_when_it_ends(school, thresholds, nuaa_photos):
    voter = TrackVoter(Recognizer(school, thresholds, roster=[f"S{s}" for s in ENROLLED]),
                       VotePolicy(embed_every=1, max_samples=15))
    embs = [p.embedding for p in nuaa_photos["0012"]][:8]
    for frame, emb in enumerate(embs):
        assert voter.add(3, frame, frame / 25, 0.5 + 0.01 * frame, emb) is None
    d = voter.finish(3)
    assert d is not None and d.outcome == "unknown" and d.frames_used == 5
    assert d.to_json_dict()["student_id"] == "unknown"
    assert voter.finish(3) is None


def test_embedding_policy_quality_gain_or_every_k_frames(school, thresholds, probes):
    voter = TrackVoter(Recognizer(school, thresholds), VotePolicy(embed_every=5, min_quality_gain=0.1,
                                                                  min_quality=0.2))
    emb = probes["0009"][0]
    assert not voter.wants_embedding(1, 0, quality=0.1)  # too poor to be worth embedding
    assert voter.wants_embedding(1, 0, quality=0.5)
    voter.add(1, 0, 0.0, 0.5, emb)
    assert not voter.wants_embedding(1, 1, quality=0.55)  # not clearly better, too soon
    assert voter.wants_embedding(1, 2, quality=0.65)  # clearly better
    assert voter.wants_embedding(1, 5, quality=0.5)  # k frames since the last embedding


def test_best_frames_outvote_a_bad_one(school, thresholds, probes, nuaa_photos):
    """A track whose worst frame looks like someone else is still decided on its best frames."""
    voter = TrackVoter(Recognizer(school, thresholds, roster=[f"S{s}" for s in ENROLLED]),
                       VotePolicy(min_frames=4, best_n=3, embed_every=1))
    other = nuaa_photos["0009"][0].embedding
    assert voter.add(5, 0, 0.0, 0.1, other) is None  # a poor frame (low quality) of the wrong face
    got = [voter.add(5, i, i / 25, 0.8, e) for i, e in enumerate(probes["0006"][:3], start=1)]
    assert got[:2] == [None, None] and got[2] is not None
    assert (got[2].outcome, got[2].student_id, got[2].frames_used) == ("accept", "S0006", 3)


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="review <= accept <= strict"):
        DecisionThresholds(accept=0.6, review=0.7, margin=0.1, strict=0.65)
    with pytest.raises(ValueError, match="cosine"):
        DecisionThresholds(accept=1.5, review=0.4, margin=0.1, strict=1.6)


def _short_track(voter, track_id, embeddings):
    for frame, emb in enumerate(embeddings):
        assert voter.add(track_id, frame, frame / 25, 0.9, emb) is None  # fewer than min_frames: no decision yet
    return voter.finish(track_id)


def test_too_short_a_track_goes_to_review_without_overwhelming_evidence(school, thresholds, probes):
    roster = [f"S{s}" for s in ENROLLED]
    # the rule switched off: a 2-frame track is never accepted automatically
    off = TrackVoter(Recognizer(school, thresholds, roster=roster),
                     VotePolicy(min_frames=3, embed_every=1, short_track_lift=None))
    d = _short_track(off, 9, probes["0005"][:2])
    assert d.outcome == "review" and d.student_id == "S0005" and d.frames_used == 2
    # the bar just above this track's evidence: review; just below it: accepted
    verdict = Recognizer(school, thresholds, roster=roster).decide(probes["0005"][:2])
    assert verdict.outcome == "accept" and verdict.student_id == "S0005"
    lift = verdict.score - thresholds.strict
    above = VotePolicy(min_frames=3, embed_every=1, short_track_lift=lift + 0.001, short_track_margin=0.0)
    assert _short_track(TrackVoter(Recognizer(school, thresholds, roster=roster), above), 10,
                        probes["0005"][:2]).outcome == "review"
    margin_above = VotePolicy(min_frames=3, embed_every=1, short_track_lift=lift - 0.001,
                              short_track_margin=verdict.margin + 0.001)
    assert _short_track(TrackVoter(Recognizer(school, thresholds, roster=roster), margin_above), 11,
                        probes["0005"][:2]).outcome == "review"
    below = VotePolicy(min_frames=3, embed_every=1, short_track_lift=lift - 0.001,
                       short_track_margin=verdict.margin - 0.001)
    d = _short_track(TrackVoter(Recognizer(school, thresholds, roster=roster), below), 12, probes["0005"][:2])
    assert d.outcome == "accept" and d.student_id == "S0005" and d.frames_used == 2


def test_roster_student_is_not_accepted_when_someone_outside_the_roster_matches_better(
        enrolment, gallery_meta, thresholds, probes):
    """The face is S0009's; the roster holds a 'classmate' enrolled from S0009's worst-matching photo
    plus others, the whole school holds S0009's own templates: no automatic record for the classmate."""
    embs, ids = enrolment
    own = [i for i, s in enumerate(ids) if s == "S0009"]
    q = probes["0009"][:5]
    worst = own[int(np.argmin((q @ embs[own].T).mean(axis=0)))]
    g = Gallery(np.concatenate([embs, embs[worst:worst + 1]]), ids + ["CLASSMATE"], gallery_meta)
    roster = ["CLASSMATE", "S0004", "S0006"]
    verdict = Recognizer(g, thresholds, roster=roster).decide(q)
    # the classmate's template is S0009's own photo, so it scores high against the roster ...
    assert Recognizer(g, thresholds, roster=roster)._vote(q, roster)[0] == "CLASSMATE"
    # ... but S0009 (another class) matches better: never recorded as the classmate
    assert not (verdict.outcome == "accept" and verdict.student_id == "CLASSMATE")
