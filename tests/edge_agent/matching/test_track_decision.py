"""Set-to-set matching over a track: the quality-weighted mean decides, the per-frame vote checks it."""

from __future__ import annotations

import numpy as np
import pytest
from matching_data import ENROLLED, STRANGERS

from edge_agent.recognition.recognizer import Recognizer, TrackVoter, Verdict, VotePolicy
from edge_agent.recognition.track_decision import SetDecision, combine

pytestmark = pytest.mark.datasets

ROSTER = [f"S{s}" for s in ENROLLED]


def _v(outcome, sid, score=0.7, margin=0.1, candidate=None):
    return Verdict(outcome, sid, score, margin, "roster", candidate=candidate or sid)


def test_mean_embedding_is_unit_length_and_follows_the_sharp_frames(probes):
    a, b = probes["0001"][0], probes["0009"][0]
    dec = SetDecision(quality_power=2.0)
    mean = dec.mean_embedding([(0.9, a), (0.05, b)])
    assert mean.shape == a.shape and abs(float(np.linalg.norm(mean)) - 1.0) < 1e-5
    assert float(mean @ a) > 0.99 and float(mean @ a) > float(mean @ b)
    equal = dec.mean_embedding([(0.5, a), (0.5, b)])
    assert abs(float(equal @ a) - float(equal @ b)) < 1e-5
    with pytest.raises(ValueError):
        dec.mean_embedding([])


def test_combine_accepts_only_when_set_and_vote_name_the_same_student():
    review = 0.6
    assert combine(_v("accept", "A"), _v("review", "A"), review).outcome == "accept"
    assert combine(_v("accept", "A"), _v("accept", "A"), review).outcome == "accept"
    who = combine(_v("accept", "A"), _v("accept", "B"), review)  # they disagree about who
    assert (who.outcome, who.student_id) == ("review", "A")
    assert combine(_v("accept", "A"), _v("unknown", None, 0.3), review).outcome == "review"
    # the per-frame vote checks who, not how strongly: below the review band but pointing at the same student,
    # the set's accept stands; pointing at someone else, the teacher decides
    assert combine(_v("accept", "A"), _v("unknown", None, 0.45, candidate="A"), review).outcome == "accept"
    other = combine(_v("accept", "A"), _v("unknown", None, 0.45, candidate="B"), review)
    assert (other.outcome, other.student_id) == ("review", "A")
    # the vote accepts, the set agrees on the student in the review band: accept
    assert combine(_v("review", "A", 0.62), _v("accept", "A"), review).outcome == "accept"
    # the vote accepts but the set's best is someone else, or too weak: the teacher decides
    assert combine(_v("review", "B", 0.62), _v("accept", "A"), review).outcome == "review"
    assert combine(_v("unknown", "A", 0.5), _v("accept", "A"), review).outcome == "review"
    # the review band is kept: review over unknown, unknown only when both say so
    assert combine(_v("unknown", None, 0.3), _v("review", "A"), review).outcome == "review"
    assert combine(_v("review", "A"), _v("unknown", None, 0.3), review).outcome == "review"
    assert combine(_v("unknown", None, 0.3), _v("unknown", None, 0.2), review).outcome == "unknown"


def test_enrolled_students_are_named_from_another_session(school, thresholds, probes):
    rec = Recognizer(school, thresholds, roster=ROSTER)
    dec = SetDecision()
    for subject in ENROLLED:
        samples = [(0.5 + 0.05 * k, e) for k, e in enumerate(probes[subject][:6])]
        verdict = dec.decide(rec, samples)
        assert (verdict.outcome, verdict.student_id) == ("accept", f"S{subject}"), (subject, verdict)


@pytest.mark.parametrize("roster", [ROSTER, None], ids=["classroom", "gate"])
def test_strangers_are_never_named(school, thresholds, nuaa_photos, roster):
    rec = Recognizer(school, thresholds, roster=roster)
    dec = SetDecision()
    seen = 0
    for subject in STRANGERS:
        embs = [p.embedding for p in nuaa_photos[subject]]
        for start in range(0, len(embs) - 4):  # overlapping 5-frame tracks
            verdict = dec.decide(rec, [(0.6, e) for e in embs[start:start + 5]])
            assert verdict.outcome != "accept", (subject, verdict)
            seen += 1
    assert seen >= 12


def test_a_track_that_switches_person_is_never_accepted_as_the_minority(school, thresholds, probes):
    rec = Recognizer(school, thresholds, roster=ROSTER)
    frames = [(0.8, e) for e in probes["0004"][:4]] + [(0.3, e) for e in probes["0007"][:2]]
    verdict = SetDecision().decide(rec, frames)
    assert verdict.student_id != "S0007" or verdict.outcome != "accept"


def test_voter_decides_with_the_set_over_every_embedded_frame(school, thresholds, probes):
    policy = VotePolicy(min_frames=3, best_n=5, embed_every=1, max_samples=6)
    voter = TrackVoter(Recognizer(school, thresholds, roster=ROSTER), policy, set_decision=SetDecision())
    decisions = [d for f, e in enumerate(probes["0006"][:6])
                 if (d := voter.add(3, f, f / 15, 0.7, e)) is not None]
    assert len(decisions) == 1 and decisions[0].student_id == "S0006" and decisions[0].outcome == "accept"
    assert decisions[0].frames_used == 3  # accepted at min_frames, from all 3 embedded frames


def test_an_unknown_verdict_names_nobody_but_keeps_its_top_candidate(school, thresholds, nuaa_photos):
    """What the set decision's check reads: the roster's top student even when the face is a stranger."""
    rec = Recognizer(school, thresholds, roster=ROSTER)
    stranger = np.stack([nuaa_photos[STRANGERS[0]][0].embedding])
    v = rec.decide(stranger)
    assert v.outcome == "unknown" and v.student_id is None
    assert v.candidate in ROSTER and v.candidate == school.search(stranger, roster=ROSTER, top=1)[0][0].student_id
