"""The allocation engine (pure functions, no I/O): direct admissions, chuyên classes, then NV1..NVn in order.

- A candidate admitted at any stage is never considered again (admitted at NVk ⇒ not at NVk+1).
- Each school fills from the highest score down to its remaining quota; the plan's aspiration rule sets
  the floor of each later round (fixed offsets over the NV1 cutoff, or a monotone cutoff).
- A tie at the cut-off is settled by the plan's ordered criteria; every candidate in a contested tie gets
  a `TieDecision` naming the criterion that settled it. When the chain is exhausted the plan's
  `tie_exhausted` rule admits (or rejects) the whole still-tied group. A unit that refused a tied group at
  score s (`reject_all`) admits nobody at or below s in its later aspirations (or chuyên choices): the seats
  that group left are not handed to lower scores from later rounds.
- DTNT schools take only DTNT-eligible candidates and at most ⌊share × quota⌋ of the majority ethnicity.
The output depends only on the input (no set/dict iteration order, no randomness).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .plan import AdmissionPlan
from .scoring import Applicant, Scored, Scorer, criterion_value, display_value, ineligibility, specialised_score


@dataclass(frozen=True)
class Admission:
    applicant_id: str
    unit: str  # school code, or chuyên class code
    school: str
    stage: str  # direct | specialised | regular
    aspiration: int  # 1-based index within the stage's list
    score: float


@dataclass(frozen=True)
class TieDecision:
    unit: str
    stage: str
    aspiration: int
    applicant_id: str
    admitted: bool
    criterion: str  # the tie-break key that settled it, or "exhausted:<rule>"
    value: float | None
    tied_score: float
    seats: int
    tied: int


@dataclass
class AllocationResult:
    admissions: dict[str, Admission] = field(default_factory=dict)
    cutoffs: dict[str, dict[int, float | None]] = field(default_factory=dict)
    floors: dict[str, dict[int, float]] = field(default_factory=dict)
    ties: list[TieDecision] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (applicant, unit, reason)
    mode: str = "rule"

    def admitted_to(self, unit: str) -> list[Admission]:
        return sorted((a for a in self.admissions.values() if a.unit == unit),
                      key=lambda a: (-a.score, a.applicant_id))


class AllocationError(ValueError):
    pass


def check_applicants(plan: AdmissionPlan, applicants: Iterable[Applicant]) -> None:
    """Reject input the engine must not guess about: duplicate ids, unknown schools, too many NVs."""
    seen: set[str] = set()
    schools = {s.code for s in plan.schools}
    classes = {c.code for c in plan.specialised_classes()}
    errors = []
    for a in applicants:
        if a.id in seen:
            errors.append(f"{a.id}: duplicate applicant id")
        seen.add(a.id)
        if len(a.aspirations) > plan.aspiration_count:
            errors.append(f"{a.id}: {len(a.aspirations)} aspirations, the plan allows {plan.aspiration_count}")
        if len(set(a.aspirations)) != len(a.aspirations):
            errors.append(f"{a.id}: the same school twice in the aspirations")
        errors += [f"{a.id}: unknown school {c}" for c in a.aspirations if c not in schools]
        errors += [f"{a.id}: unknown specialised class {c}" for c in a.specialised if c not in classes]
    if errors:
        raise AllocationError("; ".join(errors[:20]) + (f" (+{len(errors) - 20} more)" if len(errors) > 20 else ""))


def select(plan: AdmissionPlan, pool: list[Scored], seats: int, key: Callable[[Scored], int],
           unit: str, stage: str, k: int, ties: list[TieDecision]) -> list[Scored]:
    """Take `seats` candidates from `pool` by `key` (high first), settling a cut-off tie by the chain."""
    if seats <= 0 or not pool:
        return []
    ranked = sorted(pool, key=lambda s: (-key(s), s.id))
    if len(ranked) <= seats:
        return ranked
    boundary = key(ranked[seats - 1])
    if key(ranked[seats]) != boundary:
        return ranked[:seats]
    above = [s for s in ranked if key(s) > boundary]
    tied = [s for s in ranked if key(s) == boundary]
    won = _break(plan, tied, seats - len(above), 0, unit, stage, k, ties, boundary, len(tied))
    return above + won


def _break(plan, group: list[Scored], seats: int, depth: int, unit, stage, k, ties, boundary, n_tied):
    chain = plan.tie_break
    if depth >= len(chain):
        admit = plan.tie_exhausted == "admit_all"
        for s in group:
            ties.append(TieDecision(unit, stage, k, s.id, admit, f"exhausted:{plan.tie_exhausted}", None,
                                    boundary / 100, seats, n_tied))
        return list(group) if admit else []
    crit = chain[depth]
    ranked = sorted(group, key=lambda s: (criterion_value(crit, s), s.id), reverse=True)
    edge = criterion_value(crit, ranked[seats - 1])
    won = [s for s in ranked if criterion_value(crit, s) > edge]
    still = [s for s in ranked if criterion_value(crit, s) == edge]
    lost = [s for s in ranked if criterion_value(crit, s) < edge]
    for s, admitted in [(s, True) for s in won] + [(s, False) for s in lost]:
        ties.append(TieDecision(unit, stage, k, s.id, admitted, crit.key, display_value(crit, s),
                                boundary / 100, seats, n_tied))
    left = seats - len(won)
    if len(still) <= left:  # the rest of the seats take this whole sub-group: settled by this criterion
        for s in still:
            ties.append(TieDecision(unit, stage, k, s.id, True, crit.key, display_value(crit, s),
                                    boundary / 100, seats, n_tied))
        return won + still
    return won + _break(plan, still, left, depth + 1, unit, stage, k, ties, boundary, n_tied)


class _Dtnt:
    """Per-school DTNT bookkeeping: eligibility and the majority-ethnicity cap."""

    def __init__(self, plan: AdmissionPlan):
        rules = plan.dtnt
        self.schools = set(rules.schools if rules else ()) | {s.code for s in plan.schools if s.kind == "dtnt"}
        self.majority = rules.majority_ethnicity if rules else "Kinh"
        share = rules.majority_max_share if rules else 0.0
        self.cap = {c: math.floor(share * plan.school(c).quota + 1e-9) for c in self.schools}
        self.majority_taken: dict[str, int] = defaultdict(int)

    def filter(self, plan, school: str, pool: list[Scored], seats: int, k: int, stage: str,
               ties: list[TieDecision], skipped: list) -> list[Scored]:
        if school not in self.schools:
            return pool
        eligible = []
        for s in pool:
            if s.applicant.dtnt_eligible:
                eligible.append(s)
            else:
                skipped.append((s.id, school, "dtnt_not_eligible"))
        majority = [s for s in eligible if s.applicant.ethnicity == self.majority]
        room = max(0, self.cap[school] - self.majority_taken[school])
        if len(majority) > room:
            keep = select(plan, majority, room, lambda s: s.total, school, "dtnt_cap", k, ties)
            keep_ids = {s.id for s in keep}
            for s in majority:
                if s.id not in keep_ids:
                    skipped.append((s.id, school, "dtnt_majority_cap"))
            eligible = [s for s in eligible if s.applicant.ethnicity != self.majority or s.id in keep_ids]
        return eligible

    def admitted(self, school: str, s: Scored) -> None:
        if school in self.schools and s.applicant.ethnicity == self.majority:
            self.majority_taken[school] += 1


def allocate(plan: AdmissionPlan, applicants: Iterable[Applicant], *,
             specialised_declined: Iterable[str] = ()) -> AllocationResult:
    """Run the plan's allocation. `specialised_declined`: candidates who did not confirm a chuyên place
    in the confirmation window; they are left out of the chuyên stage and compete for regular places."""
    applicants = list(applicants)
    check_applicants(plan, applicants)
    res = AllocationResult()
    declined = set(specialised_declined)
    scored: list[Scored] = []
    scorer = Scorer(plan)
    for a in applicants:
        s = scorer(a)
        res.scores[a.id] = s.total / 100
        scored.append(s)
    seats = {s.code: s.quota for s in plan.schools}
    dtnt = _Dtnt(plan)
    taken: set[str] = set()

    # 1. direct admissions (tuyển thẳng) to the NV1 school
    for s in sorted(scored, key=lambda s: s.id):
        a = s.applicant
        if a.direct and a.aspirations:
            school = a.aspirations[0]
            res.admissions[a.id] = Admission(a.id, school, school, "direct", 1, s.total / 100)
            taken.add(a.id)
            dtnt.admitted(school, s)
            if plan.direct_in_quota:
                seats[school] -= 1

    # 2. chuyên classes, choice by choice
    classes = {c.code: (c, sch.code) for sch in plan.schools for c in sch.specialised_classes}
    class_seats = {code: c.quota for code, (c, _) in classes.items()}
    depth = max((len(s.applicant.specialised) for s in scored), default=0)
    refused: dict[str, int] = {}  # unit -> highest score of a tied group refused under `reject_all`
    for j in range(1, depth + 1):
        pools: dict[str, list[Scored]] = defaultdict(list)
        for s in scored:
            a = s.applicant
            if s.id in taken or s.id in declined or len(a.specialised) < j:
                continue
            cls, _ = classes[a.specialised[j - 1]]
            papers = [p for p in cls.weights if p != cls.paper] + [cls.paper]
            reason = ineligibility(plan, a, papers)
            if reason:
                res.skipped.append((s.id, cls.code, reason))
                continue
            pools[cls.code].append(s)
        for code in sorted(pools):
            cls, school = classes[code]
            key = _memo(lambda s, cls=cls: specialised_score(plan, cls, s))
            pool = _above_refused(pools[code], key, refused.get(code), code, j, res.skipped)
            n_ties = len(res.ties)
            won = select(plan, pool, class_seats[code], key, code, "specialised", j, res.ties)
            _note_refused(res.ties[n_ties:], code, refused)
            for s in won:
                res.admissions[s.id] = Admission(s.id, code, school, "specialised", j, key(s) / 100)
                taken.add(s.id)
            class_seats[code] -= len(won)
            if won:
                res.cutoffs.setdefault(code, {})[j] = min(key(s) for s in won) / 100

    # 3. regular aspirations NV1..NVn in order
    regular: list[Scored] = []
    for s in scored:
        if s.id in taken:
            continue
        reason = ineligibility(plan, s.applicant)
        if reason is None and s.total < round(plan.eligibility.min_total * 100):
            reason = "below_min_total"
        if reason:
            res.excluded[s.id] = reason
        else:
            regular.append(s)
    rule = plan.aspiration_rule
    cut: dict[str, dict[int, int | None]] = defaultdict(dict)
    for k in range(1, plan.aspiration_count + 1):
        pools = defaultdict(list)
        for s in regular:
            if s.id not in taken and len(s.applicant.aspirations) >= k:
                pools[s.applicant.aspirations[k - 1]].append(s)
        for school in sorted(pools):
            floor = _floor(plan, rule, cut[school], k)
            res.floors.setdefault(school, {})[k] = floor / 100
            pool = []
            for s in pools[school]:
                if s.total >= floor:
                    pool.append(s)
                else:
                    res.skipped.append((s.id, school, f"below_floor_nv{k}"))
            pool = _above_refused(pool, lambda s: s.total, refused.get(school), school, k, res.skipped)
            pool = dtnt.filter(plan, school, pool, seats[school], k, "regular", res.ties, res.skipped)
            n_ties = len(res.ties)
            won = select(plan, pool, seats[school], lambda s: s.total, school, "regular", k, res.ties)
            _note_refused(res.ties[n_ties:], school, refused)
            for s in won:
                res.admissions[s.id] = Admission(s.id, school, school, "regular", k, s.total / 100)
                taken.add(s.id)
                dtnt.admitted(school, s)
            seats[school] -= len(won)
            cut[school][k] = min((s.total for s in won), default=None)
    for school, by_k in cut.items():
        res.cutoffs[school] = {k: (v / 100 if v is not None else None) for k, v in sorted(by_k.items())}
    return res


def _above_refused(pool: list[Scored], key: Callable[[Scored], int], refused: int | None, unit: str, k: int,
                   skipped: list) -> list[Scored]:
    """Drop candidates at or below the score of a tied group this unit refused in an earlier round."""
    if refused is None:
        return pool
    keep = []
    for s in pool:
        if key(s) > refused:
            keep.append(s)
        else:
            skipped.append((s.id, unit, f"below_refused_tie_nv{k}"))
    return keep


def _note_refused(new_ties: list[TieDecision], unit: str, refused: dict[str, int]) -> None:
    """Remember the score of a tied group refused at `unit` (exhausted chain under `reject_all`)."""
    for t in new_ties:
        if t.unit == unit and not t.admitted and t.criterion == "exhausted:reject_all":
            score = round(t.tied_score * 100)
            refused[unit] = max(refused.get(unit, score), score)


def _floor(plan: AdmissionPlan, rule, cut: dict[int, int | None], k: int) -> int:
    base = round(plan.eligibility.min_total * 100)
    if k == 1:
        return base
    if rule.kind == "offsets":
        first = cut.get(1)
        return (first if first is not None else base) + round(rule.offsets[k - 1] * 100)
    earlier = [v for j, v in cut.items() if j < k and v is not None]
    return max(earlier, default=base)


def _memo(fn: Callable[[Scored], int]) -> Callable[[Scored], int]:
    cache: dict[str, int] = {}

    def wrapped(s: Scored) -> int:
        v = cache.get(s.id)
        if v is None:
            v = cache[s.id] = fn(s)
        return v
    return wrapped
