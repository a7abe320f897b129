"""Learning from confirmed sightings: the school's own camera teaches the gallery, under strict rules.

When a teacher finalises a period, each sighting the camera proposed present and the teacher finalised present
(track not corrected) may add one *learned* template for that student: the embedding of the track's best frame
(highest face quality). A track the camera sent to review and the teacher confirmed as its candidate counts as
confirmed too (`via="review"`, with the review threshold as its score floor). It is only learned when every
rule holds (`LearningPolicy.judge`, reason codes below):

- `corrected`: never from a track the teacher corrected (the camera's decision was changed);
- `no_consent`: only with a recorded, unwithdrawn consent for the purpose `LEARNING_PURPOSE` (the caller checks
  the consents table and says so in `Confirmation.consent`);
- `low_quality`: the best frame's quality score is at least `min_quality`;
- `low_score` / `low_margin`: the track was matched at or above `min_score` and beat the next student by at
  least `min_margin` (a high-margin decision, not a borderline one);
- `drift`: the drift guard: the new template still matches the student's ENROLLED templates (photos taken by
  staff, never learned ones) at or above `drift_floor`. A stranger wrongly confirmed again and again for
  student X is refused every time, because learned templates never move the reference he is compared to;
- `redundant`: with `max_learned` (K) learned templates already, the most redundant of the K + 1 (the one most
  similar to the others) is dropped; when that is the new one, nothing changes.

`Learner` keeps a school's enrolled and learned templates in memory and builds the `Gallery` (the walk-by
benchmark uses it through `learn_from_confirmations`); `edge_agent.recognition.learned_store` applies the same
rules to the school database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_agent.recognition.gallery import Gallery, GalleryMeta

LEARNING_PURPOSE = "cai_thien_nhan_dang"  # consent purpose: "improve recognition from confirmed sightings"
REASONS = ("learned", "replaced", "corrected", "no_consent", "low_quality", "low_score", "low_margin", "drift",
           "redundant", "not_enrolled")


@dataclass(frozen=True)
class Confirmation:
    """A sighting the teacher finalised: the track's embedded frames and how the camera decided it."""

    student_id: str
    samples: Sequence[tuple[float, np.ndarray]]  # (quality, L2-normalised embedding) per embedded frame
    score: float                                   # the track's decision score
    margin: float                                  # ... and its margin over the next student
    corrected: bool = False                        # the teacher changed the camera's decision
    consent: bool = True                           # a recorded consent for LEARNING_PURPOSE is active
    via: str = "proposal"                          # "proposal": proposed present by the camera; "review": the
                                                   # camera's review candidate, confirmed by the teacher

    def best_frame(self) -> tuple[float, np.ndarray] | None:
        if not self.samples:
            return None
        q, emb = max(self.samples, key=lambda s: s[0])
        return float(q), _unit(emb)


@dataclass(frozen=True)
class LearningPolicy:
    """The rules (see the module docstring); thresholds are cosines of the school's embedder."""

    max_learned: int = 5
    min_quality: float = 0.2
    min_score: float = 0.653     # MobileFaceNet accept threshold (thresholds.toml)
    min_review_score: float = 0.613  # a review the teacher confirmed: at least the review threshold
    min_margin: float = 0.06     # twice the calibrated margin
    drift_floor: float = 0.45    # cosine to the best ENROLLED template

    def __post_init__(self) -> None:
        if self.max_learned < 0:
            raise ValueError("max_learned must be >= 0")
        for name in ("min_score", "drift_floor"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a cosine in [-1, 1]")

    @classmethod
    def from_thresholds(cls, thresholds, max_learned: int = 5, min_quality: float = 0.2) -> LearningPolicy:
        """From a `DecisionThresholds`: score at least accept (review for a review the teacher confirmed), margin
        twice the calibrated one, drift floor 0.05 below review (a cosine a stranger reaches with a pair FAR well
        under 1e-3)."""
        return cls(max_learned=max_learned, min_quality=min_quality, min_score=thresholds.accept,
                   min_review_score=thresholds.review, min_margin=2 * thresholds.margin,
                   drift_floor=thresholds.review - 0.05)

    def judge(self, c: Confirmation, enrolled: np.ndarray) -> tuple[str, np.ndarray | None, float]:
        """(reason, embedding, drift score) for one confirmation against the student's enrolled templates (M, D).

        reason is "learned" when the template may be added (subject to the cap), else a refusal code."""
        if c.corrected:
            return "corrected", None, 0.0
        if not c.consent:
            return "no_consent", None, 0.0
        if enrolled is None or len(enrolled) == 0:
            return "not_enrolled", None, 0.0
        best = c.best_frame()
        if best is None or best[0] < self.min_quality:
            return "low_quality", None, 0.0
        if c.score < (self.min_review_score if c.via == "review" else self.min_score):
            return "low_score", None, 0.0
        if c.margin < self.min_margin:
            return "low_margin", None, 0.0
        drift = float((np.asarray(enrolled, np.float32) @ best[1]).max())
        if drift < self.drift_floor:
            return "drift", None, drift
        return "learned", best[1], drift


def cap_victim(enrolled: np.ndarray, learned: np.ndarray, new: np.ndarray) -> int:
    """Which of the learned templates plus the new one (index len(learned)) to drop at the cap: the most
    redundant, i.e. the one with the highest cosine to any other template of the student; ties drop the oldest."""
    pool = np.vstack([learned, new[None]]).astype(np.float32)
    others = np.vstack([enrolled, pool]).astype(np.float32)
    sims = pool @ others.T
    for i in range(len(pool)):
        sims[i, len(enrolled) + i] = -np.inf  # not itself
    return int(np.argmax(sims.max(axis=1)))  # argmax keeps the first (oldest) of equals


@dataclass
class LearnReport:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1


class Learner:
    """Enrolled templates (fixed) plus learned ones (capped) of a school, in memory."""

    def __init__(self, enrolled: Gallery, policy: LearningPolicy | None = None) -> None:
        self.meta = enrolled.meta
        self.policy = policy or LearningPolicy()
        snap = enrolled._snap  # noqa: SLF001 - same module family: read the immutable snapshot
        self.enrolled = {sid: snap.embeddings[rows] for sid, rows in snap.rows.items()}
        self.learned: dict[str, list[np.ndarray]] = {}
        self.report = LearnReport()

    def learn(self, confirmations: Iterable[Confirmation]) -> Gallery:
        for c in confirmations:
            self.report.add(self.consider(c))
        return self.gallery()

    def consider(self, c: Confirmation) -> str:
        reason, emb, _ = self.policy.judge(c, self.enrolled.get(c.student_id))
        if reason != "learned":
            return reason
        have = self.learned.setdefault(c.student_id, [])
        if len(have) < self.policy.max_learned:
            have.append(emb)
            return "learned"
        if self.policy.max_learned == 0:
            return "redundant"
        victim = cap_victim(self.enrolled[c.student_id], np.stack(have), emb)
        if victim == len(have):
            return "redundant"
        del have[victim]
        have.append(emb)
        return "replaced"

    def gallery(self) -> Gallery:
        emb, ids = [], []
        for sid, rows in self.enrolled.items():
            for e in [*rows, *self.learned.get(sid, [])]:
                emb.append(e)
                ids.append(sid)
        return Gallery(np.stack(emb), ids, GalleryMeta(self.meta.model_name, self.meta.model_sha256,
                                                       self.meta.version))


def learn_from_confirmations(gallery: Gallery, confirmations: Iterable[Confirmation],
                             learner: Learner | None = None) -> Gallery:
    """The gallery after learning from one finalisation's confirmations.

    Pass the same `learner` (built once on the enrolled gallery) day after day: it remembers which templates
    are enrolled (the drift guard's reference) and which were learned (the cap). Without it, every template of
    `gallery` is taken as enrolled."""
    learner = learner or Learner(gallery)
    return learner.learn(confirmations)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).reshape(-1)
    return v / max(float(np.linalg.norm(v)), 1e-12)
