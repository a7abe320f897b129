"""Set-to-set matching over a track: decide from the quality-weighted mean of its frames' embeddings,
with the per-frame vote as a check.

A face seen in several frames is one set of embeddings. Frame noise (blur, a half-turned head, a bad
landmark) scatters the frames around the person's true point on the sphere; their mean, weighted by
face quality and scaled back to unit length, lies closer to it than most single frames do, so a student
whose enrolment photos differ from the corridor camera still reaches the accept threshold more often.

The decision (`SetDecision.decide`), for one track's (quality, embedding) samples:
1. the *set verdict*: `Recognizer.decide` on the one weighted-mean embedding (roster first, then the
   whole school, the same thresholds, margin and review band as a single frame);
2. the *vote verdict*: `Recognizer.decide` on the best `best_n` frames (per-student median, as before);
3. an accept stands only where both agree on the student: the set accepts and the vote's top candidate
   is the same student, or the vote accepts and the set's top candidate is the same student at or above
   `review`. The vote checks *who*, not how strongly: its median over single blurred frames sits below the
   set's score by construction (averaging is what lifts the set), so a set accept whose vote points at the
   same student below the review band stays an accept (the set reached the calibrated accept threshold);
   the walk-by named one more walker on day 1 with fusion and SFace this way, no stranger more. Any
   disagreement about *who* sends the track to teacher review with the
   set's candidate; two non-accepts keep the more cautious outcome that still asks the teacher
   (review over unknown), so the review band is kept.
`TrackVoter(recognizer, policy, set_decision=SetDecision())` uses it in place of the plain vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from edge_agent.recognition.recognizer import Recognizer, Verdict


@dataclass(frozen=True)
class SetDecision:
    """Set-to-set decision of a track (see the module docstring)."""

    best_n: int = 5  # frames of the per-frame check (the best by quality)
    quality_power: float = 2.0  # weight of a frame = quality ** power (sharper frames count more)
    min_quality: float = 1e-3  # floor on a weight so that a set of zero-quality frames still averages

    def __post_init__(self) -> None:
        if self.best_n < 1 or self.quality_power < 0:
            raise ValueError("best_n must be >= 1 and quality_power >= 0")

    def mean_embedding(self, samples: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
        """The quality-weighted mean of the frames' embeddings, L2-normalised: (D,) float32."""
        if not samples:
            raise ValueError("a track needs at least one embedded frame")
        q = np.maximum(np.array([s[0] for s in samples], np.float64), self.min_quality) ** self.quality_power
        emb = np.stack([np.asarray(s[1], np.float64).reshape(-1) for s in samples])
        mean = (q[:, None] * emb).sum(axis=0) / q.sum()
        norm = np.linalg.norm(mean)
        if norm < 1e-9:  # frames pointing in opposite directions: no set direction to decide on
            return emb[int(np.argmax(q))].astype(np.float32)
        return (mean / norm).astype(np.float32)

    def decide(self, recognizer: Recognizer, samples: Sequence[tuple[float, np.ndarray]]) -> Verdict:
        """The track's verdict from its (quality, embedding) samples."""
        mean = self.mean_embedding(samples)
        by_set = recognizer.decide(mean[None])
        best = sorted(samples, key=lambda s: s[0], reverse=True)[: self.best_n]
        by_vote = recognizer.decide(np.stack([np.asarray(e, np.float32).reshape(-1) for _, e in best]))
        return combine(by_set, by_vote, recognizer.thresholds.review)


def combine(by_set: Verdict, by_vote: Verdict, review: float) -> Verdict:
    """The track's verdict from the set verdict and the per-frame vote (rules in the module docstring)."""
    if by_set.outcome == "accept":
        if (by_vote.candidate or by_vote.student_id) == by_set.student_id:
            return by_set
        return replace(by_set, outcome="review", other_class=False)
    if by_vote.outcome == "accept":
        if by_set.student_id == by_vote.student_id and by_set.score >= review:
            return by_vote
        candidate = by_set if by_set.student_id is not None else by_vote
        return replace(candidate, outcome="review", other_class=False)
    if by_set.outcome == "review":
        return by_set
    return by_vote if by_vote.outcome == "review" else by_set
