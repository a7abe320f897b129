"""Who is this track? One accept / review / unknown decision per track, voted over several frames.

Embedding policy: a track is embedded when its face quality clearly beats the best frame embedded so
far, or every `embed_every` frames, until the track is decided; a decided track costs nothing more.

Decision (open set): the per-student score of a track is the median, over its best `best_n` frames
(by quality), of the student's best template score. The top student is accepted only when that score
reaches the threshold AND beats the best *other* student by `margin`:
1. roster first: among the students of the class scheduled in the room, against `accept` (and the
   roster's top student must also be the top student of the whole school);
2. then the whole school against the stricter `strict` (accepted with `other_class` set when the
   student is not on the roster: "seen in room X");
3. otherwise a roster (or, without a roster, school) top score at or above `review` goes to teacher
   review, and anything lower is a stranger (`unknown`).
A track is accepted as soon as `min_frames` frames agree; review/unknown is decided when the track
ends or has `max_samples` frames, so a bad first frame never sinks a student. A track that ends with
fewer than `min_frames` embedded frames (a small, blurred face the camera could embed only once or twice)
is accepted only on stronger evidence: a score at or above `strict + short_track_lift` AND a margin of at
least `short_track_margin` over the next student (`VotePolicy`); otherwise it goes to review.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Protocol

import numpy as np

from edge_agent.recognition.gallery import Gallery
from edge_agent.recognition.thresholds import load_thresholds

Outcome = Literal["accept", "review", "unknown"]


@dataclass(frozen=True)
class DecisionThresholds:
    """Cosine thresholds of the decision (calibrated values live in edge_agent/recognition/thresholds.toml)."""

    accept: float  # roster search: accept at or above
    review: float  # below it: unknown; between review and accept: teacher review
    margin: float  # the top student must beat the best other student by this much
    strict: float  # whole-school search: accept at or above

    def __post_init__(self) -> None:
        for name in ("accept", "review", "strict"):
            v = getattr(self, name)
            if not -1.0 <= v <= 1.0:
                raise ValueError(f"threshold {name}={v} is not a cosine in [-1, 1]")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"margin={self.margin} must be in [0, 2]")
        if not self.review <= self.accept <= self.strict:
            raise ValueError(f"thresholds must satisfy review <= accept <= strict, got {self.review}, "
                             f"{self.accept}, {self.strict}")

    @classmethod
    def from_calibration(cls, cal: Any) -> DecisionThresholds:
        """From the object `edge_agent.recognition.thresholds.load_thresholds()` returns (attributes or keys)."""
        def get(*names: str) -> float:
            for n in names:
                v = cal.get(n) if isinstance(cal, dict) else getattr(cal, n, None)
                if v is not None:
                    return float(v)
            raise ValueError(f"calibrated thresholds lack {names[0]!r}")
        return cls(accept=get("accept"), review=get("review", "unknown"), margin=get("margin"),
                   strict=get("strict", "strict_whole_school", "whole_school"))

    @classmethod
    def calibrated(cls) -> DecisionThresholds:
        """The project's calibrated thresholds (edge_agent/recognition/thresholds.toml)."""
        return cls.from_calibration(load_thresholds())


@dataclass(frozen=True)
class VotePolicy:
    embed_every: int = 5  # re-embed an undecided track at least every k frames
    min_quality_gain: float = 0.05  # ... or as soon as its quality beats the best embedded by this
    # frames below this quality score are never embedded: a trade of CPU against evidence, measured on every
    # tracked face of the walk-by (benchmarks/quality_floor.py). The evidence fades smoothly with quality, with no
    # cliff at the former 0.1: frames of 0.05-0.1 (typically 30-35 px faces with ordinary optics, whose sharpness
    # measured on the 112 px aligned crop stays near 10) still reach the accept threshold for the right student
    # in 29-54 % of cases, and no stranger's frame reaches it in any band. They are weaker than frames of 0.1-0.2
    # (rank-1 error 5.7 vs 4.2 % fused), so they weigh little in the set decision (quality ** 2) and never lower
    # its thresholds; what they add is frames for a face that stays small: with 0.1 such a walker, detected in
    # 30 frames, was embedded once or never. Below 0.05 (mostly quality 0: no detail left, or turned away) a frame
    # would count towards `min_frames` with next to no weight.
    min_quality: float = 0.05
    best_n: int = 5  # vote over the best N frames of the track
    min_frames: int = 3  # frames needed before a track may be accepted
    max_samples: int = 15  # decide (review/unknown) once this many frames are embedded
    # a track that ENDED with fewer than min_frames embedded frames is accepted only at score >= strict + lift
    # and margin >= short_track_margin (None: never, it goes to review). The walk-by's short tracks of
    # students are at 0.67-0.91 with margins 0.29-0.49 (fusion); strangers' tracks stay below 0.52.
    short_track_lift: float | None = 0.05
    short_track_margin: float = 0.15

    def __post_init__(self) -> None:
        if self.embed_every < 1 or self.best_n < 1 or self.min_frames < 1:
            raise ValueError("embed_every, best_n and min_frames must be >= 1")
        if self.max_samples < self.min_frames:
            raise ValueError("max_samples must be >= min_frames")


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    student_id: str | None  # accepted student, or the candidate for review; None when unknown
    score: float  # voted score of the top student (NaN if the gallery is empty)
    margin: float  # top score minus the best other student's score
    scope: Literal["roster", "school"]
    other_class: bool = False  # accepted in the whole-school search but not on the room's roster
    # the top student of the search that decided, whatever the outcome (an "unknown" names nobody, but the set-
    # to-set decision still checks that its per-frame vote points at the same student: track_decision.combine)
    candidate: str | None = None


@dataclass(frozen=True)
class TrackDecision:
    """The one decision about one track (what `edge-agent recognize --json` prints)."""

    track_id: int
    outcome: Outcome
    student_id: str | None
    score: float
    margin: float
    scope: str
    other_class: bool
    frames_used: int
    first_ts: float
    last_ts: float
    best_quality: float = 0.0  # the track's best embedded frame (what learning may keep, never printed)
    best_embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    pad: Any = field(default=None, compare=False)  # recognition.pipeline.TrackPad when the camera runs PAD
    # widest face of the track up to its decision, in pixels of the analysed frame (set by the pipeline; 0 unknown)
    face_px: float = field(default=0.0, compare=False)

    def to_json_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("pad", "best_embedding", "best_quality")}
        if self.pad is not None:
            d["pad"] = self.pad.to_json_dict()
        d["student_id"] = self.student_id if self.outcome == "accept" else self.outcome
        d["candidate_id"] = self.student_id if self.outcome == "review" else None
        for k in ("score", "margin"):
            d[k] = None if math.isnan(d[k]) else round(d[k], 4)
        d["first_ts"], d["last_ts"] = round(self.first_ts, 3), round(self.last_ts, 3)
        d["face_px"] = round(self.face_px, 1)
        return d


@dataclass
class _Votes:
    first_ts: float
    last_ts: float = 0.0
    samples: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, embedding)
    best_quality: float = -math.inf
    last_embed_frame: int = -(10**9)
    decided: bool = False


class Recognizer:
    """Open-set decision over a gallery, roster-first (stateless apart from the roster)."""

    def __init__(self, gallery: Gallery, thresholds: DecisionThresholds,
                 roster: Collection[str] | None = None) -> None:
        self.gallery = gallery
        self.thresholds = thresholds
        self._roster: frozenset[str] | None = None if roster is None else frozenset(roster)

    @property
    def roster(self) -> frozenset[str] | None:
        return self._roster

    def set_roster(self, roster: Collection[str] | None) -> None:
        """The class now scheduled in the room (None: no roster, e.g. a gate camera)."""
        self._roster = None if roster is None else frozenset(roster)

    def _vote(self, emb: np.ndarray, roster: Collection[str] | None) -> tuple[str | None, float, float]:
        cands: set[str] = set()
        for row in self.gallery.search(emb, roster=roster, top=3):
            cands.update(c.student_id for c in row)
        if not cands:
            return None, math.nan, math.nan
        scores = self.gallery.scores_for(emb, cands)
        voted = sorted(((float(np.median(s)), sid) for sid, s in scores.items()), reverse=True)
        top_score, top_id = voted[0]
        other = voted[1][0] if len(voted) > 1 else 0.0
        return top_id, top_score, top_score - max(other, 0.0)

    def decide(self, embeddings: np.ndarray) -> Verdict:
        """Verdict for one face seen in one or more frames (embeddings: (N, D) L2-normalised)."""
        emb = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        th = self.thresholds
        roster = self._roster
        school_id, school_score, school_margin = self._vote(emb, None)
        room = None
        if roster is not None:
            room = self._vote(emb, roster)
            sid, score, margin = room
            # the roster student must also be the best match of the whole school: a face that looks
            # more like a student of another class is never recorded as this classmate
            if (sid is not None and sid == school_id and score >= th.accept and margin >= th.margin):
                return Verdict("accept", sid, score, margin, "roster", candidate=sid)
        if school_id is not None and school_score >= th.strict and school_margin >= th.margin:
            return Verdict("accept", school_id, school_score, school_margin, "school",
                           other_class=roster is not None and school_id not in roster, candidate=school_id)
        sid, score, margin = room if room is not None else (school_id, school_score, school_margin)
        scope = "roster" if room is not None else "school"
        if sid is not None and score >= th.review:
            return Verdict("review", sid, score, margin, scope, candidate=sid)
        return Verdict("unknown", None, score, margin, scope, candidate=sid)


class TrackDecider(Protocol):
    """Decides a track from all its (quality, embedding) samples, e.g. `track_decision.SetDecision`."""

    def decide(self, recognizer: Recognizer, samples: Sequence[tuple[float, np.ndarray]]) -> Verdict: ...


class TrackVoter:
    """Decides each track once, from its best frames; tells the pipeline which faces to embed.

    With `set_decision`, a track is decided by it (set-to-set matching over all embedded frames, with
    the per-frame vote as a check) instead of by the per-frame vote alone.
    """

    def __init__(self, recognizer: Recognizer, policy: VotePolicy | None = None,
                 set_decision: TrackDecider | None = None) -> None:
        self.recognizer = recognizer
        self.policy = policy or VotePolicy()
        self.set_decision = set_decision
        self._votes: dict[int, _Votes] = {}
        self._lock = threading.Lock()

    def is_decided(self, track_id: int) -> bool:
        v = self._votes.get(track_id)
        return v is not None and v.decided

    def wants_embedding(self, track_id: int, frame: int, quality: float) -> bool:
        """Should this track's face in this frame be embedded?"""
        p = self.policy
        v = self._votes.get(track_id)
        if v is None:
            return quality >= p.min_quality
        if v.decided or quality < p.min_quality:
            return False
        return (quality >= v.best_quality + p.min_quality_gain
                or frame - v.last_embed_frame >= p.embed_every)

    def seen(self, track_id: int, ts: float) -> None:
        """Record that the track was seen at `ts` (for first/last timestamps)."""
        v = self._votes.setdefault(track_id, _Votes(first_ts=ts, last_ts=ts))
        v.last_ts = max(v.last_ts, ts)

    def add(self, track_id: int, frame: int, ts: float, quality: float,
            embedding: np.ndarray) -> TrackDecision | None:
        """Add one embedded frame; returns the decision if the track is accepted now."""
        with self._lock:
            self.seen(track_id, ts)
            v = self._votes[track_id]
            if v.decided:
                return None
            v.samples.append((float(quality), np.asarray(embedding, dtype=np.float32).reshape(-1)))
            v.best_quality = max(v.best_quality, float(quality))
            v.last_embed_frame = frame
            n = len(v.samples)
            if n < self.policy.min_frames:
                return None
            decision = self._decide(track_id, v)
            if decision.outcome == "accept" or n >= self.policy.max_samples:
                v.decided = True
                return decision
            return None

    def finish(self, track_id: int) -> TrackDecision | None:
        """The track ended: its decision if not made yet (None if it never had an embedded frame)."""
        with self._lock:
            v = self._votes.pop(track_id, None)
            if v is None or v.decided or not v.samples:
                return None
            return self._decide(track_id, v)

    def _short_ok(self, verdict: Verdict) -> bool:
        """May a track that ended with fewer than `min_frames` embedded frames keep its accept?"""
        lift = self.policy.short_track_lift
        return (lift is not None and verdict.score >= self.recognizer.thresholds.strict + lift
                and verdict.margin >= self.policy.short_track_margin)

    def _decide(self, track_id: int, v: _Votes) -> TrackDecision:
        best = sorted(v.samples, key=lambda s: s[0], reverse=True)[: self.policy.best_n]
        if self.set_decision is not None:
            verdict = self.set_decision.decide(self.recognizer, v.samples)
        else:
            verdict = self.recognizer.decide(np.stack([e for _, e in best]))
        if verdict.outcome == "accept" and len(v.samples) < self.policy.min_frames and not self._short_ok(verdict):
            # too short a track to vote on, without overwhelming evidence: a teacher confirms instead
            verdict = replace(verdict, outcome="review", other_class=False)
        return TrackDecision(track_id=track_id, outcome=verdict.outcome, student_id=verdict.student_id,
                             score=verdict.score, margin=verdict.margin, scope=verdict.scope,
                             other_class=verdict.other_class,
                             frames_used=len(v.samples) if self.set_decision is not None else len(best),
                             first_ts=v.first_ts, last_ts=v.last_ts, best_quality=best[0][0],
                             best_embedding=best[0][1])
