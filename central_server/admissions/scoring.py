"""Applicants as the engine sees them, the admission score, eligibility and tie-break criterion values.

Scores are handled in integer hundredths of a point ("centi-points") so that ties are exact: 7.25 + 1.5
is 875, never 8.749999. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .plan import AdmissionPlan, SpecialisedClass, TieCriterion

MISSING = None


def centi(x: float) -> int:
    return int(round(x * 100))


@dataclass(frozen=True)
class Applicant:
    """One candidate. `scores[code]` is None for a missing paper; `aspirations` are school codes in order,
    `specialised` chuyên class codes in order; `direct` an approved direct-admission group code."""

    id: str
    scores: Mapping[str, float | None] = field(default_factory=dict)
    aspirations: tuple[str, ...] = ()
    specialised: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    prizes: tuple[str, ...] = ()
    cancelled: bool = False
    direct: str | None = None
    dtnt_eligible: bool = False
    ethnicity: str = ""
    attrs: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scored:
    """An applicant with the plan's arithmetic done once: total, bonuses and subject sums in centi-points."""

    applicant: Applicant
    total: int
    priority: int
    encouragement: int
    subjects: int
    id: str


class Scorer:
    """The plan's score formula with its point tables looked up once (the engine scores every candidate)."""

    def __init__(self, plan: AdmissionPlan):
        self.plan = plan
        self.codes = plan.subject_codes
        self.prio = {g.code: centi(g.points) for g in plan.priority_groups}
        self.prize = {g.code: centi(g.points) for g in plan.prizes}

    def _points(self, table: dict[str, int], codes, how: str, what: str) -> int:
        try:
            values = [table[c] for c in codes]
        except KeyError as exc:
            raise KeyError(f"unknown {what} code {exc.args[0]!r}") from None
        if not values:
            return 0
        return max(values) if how == "max" else sum(values)

    def __call__(self, a: Applicant) -> Scored:
        """Admission score = Σ subject scores (no coefficients) + priority + encouragement (method-dependent)."""
        plan = self.plan
        pr = self._points(self.prio, a.priority, plan.priority_combine, "priority group")
        en = self._points(self.prize, a.prizes, plan.prize_combine, "prize")
        sc = a.scores
        subj = 0
        for c in self.codes:
            v = sc.get(c)
            if v:
                subj += int(round(v * 100))
        if plan.method == "thi_tuyen":
            base = subj
        else:
            records = centi(a.attrs.get("records_score", 0.0))
            base = records if plan.method == "xet_tuyen" else subj + records
        return Scored(a, base + pr + en, pr, en, subj, a.id)


def score(plan: AdmissionPlan, a: Applicant) -> Scored:
    """Admission score of one applicant (see `Scorer` to score many)."""
    return Scorer(plan)(a)


def specialised_score(plan: AdmissionPlan, cls: SpecialisedClass, s: Scored) -> int:
    """Weighted score for a chuyên class (the only place coefficients are allowed)."""
    total = sum(round(centi(s.applicant.scores.get(p) or 0.0) * w) for p, w in cls.weights.items())
    if cls.add_bonuses:
        total += s.priority + s.encouragement
    return int(total)


def ineligibility(plan: AdmissionPlan, a: Applicant, papers: list[str] | None = None) -> str | None:
    """Why the candidate is excluded (a reason code), or None. Reasons: cancelled, missing_paper:<code>,
    zero_paper:<code>."""
    rules = plan.eligibility
    if rules.exclude_cancelled and a.cancelled:
        return "cancelled"
    if plan.method == "xet_tuyen" and papers is None:
        return None
    for code in papers if papers is not None else plan.subject_codes:
        value = a.scores.get(code)
        if value is None:
            if rules.exclude_missing_paper:
                return f"missing_paper:{code}"
        elif value == 0 and rules.exclude_zero_paper:
            return f"zero_paper:{code}"
    return None


def criterion_value(crit: TieCriterion, s: Scored) -> tuple[int, float]:
    """Sort key for one tie-break criterion, larger is better; missing values always rank last."""
    key = crit.key
    if key == "priority_points":
        v: float | None = s.priority
    elif key == "encouragement_points":
        v = s.encouragement
    elif key == "bonus_points":
        v = s.priority + s.encouragement
    elif key == "sum_subjects":
        v = s.subjects
    elif key.startswith("subject:"):
        raw = s.applicant.scores.get(key.split(":", 1)[1])
        v = None if raw is None else centi(raw)
    else:
        v = s.applicant.attrs.get(key.split(":", 1)[1])
    if v is None:
        return (0, 0.0)
    return (1, float(v) if crit.order == "desc" else -float(v))


def display_value(crit: TieCriterion, s: Scored) -> float | None:
    present, v = criterion_value(crit, s)
    if not present:
        return None
    v = v if crit.order == "desc" else -v
    centi_keys = ("priority_points", "encouragement_points", "bonus_points", "sum_subjects")
    return v / 100 if crit.key in centi_keys or crit.key.startswith("subject:") else v
