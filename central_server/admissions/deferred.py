"""Student-proposing deferred acceptance, for policy simulation only, and a report comparing it with the rule.

Direct admissions, chuyên classes and eligibility are taken from the rule engine unchanged; only the
regular NV stage differs. Schools rank proposals by score (less the plan's NV offset when the rule is
`offsets`, so an NVk proposal is worth what the rule would require of it), then by the tie-break chain,
then by applicant id (a strict order is needed for DA; this last step exists only in the simulation).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable

from .allocation import Admission, AllocationResult, allocate
from .plan import AdmissionPlan
from .scoring import Applicant, Scored, Scorer, criterion_value


def deferred_acceptance(plan: AdmissionPlan, applicants: Iterable[Applicant], *,
                        specialised_declined: Iterable[str] = ()) -> AllocationResult:
    applicants = list(applicants)
    base = allocate(plan, applicants, specialised_declined=specialised_declined)
    res = AllocationResult(mode="deferred_acceptance", excluded=dict(base.excluded), scores=dict(base.scores))
    fixed = {i: a for i, a in base.admissions.items() if a.stage in ("direct", "specialised")}
    res.admissions.update(fixed)
    res.cutoffs.update({u: c for u, c in base.cutoffs.items() if u not in {s.code for s in plan.schools}})
    seats = {s.code: s.quota for s in plan.schools}
    if plan.direct_in_quota:
        for a in fixed.values():
            if a.stage == "direct":
                seats[a.school] -= 1
    rules = plan.dtnt
    dtnt_schools = set(rules.schools if rules else ()) | {s.code for s in plan.schools if s.kind == "dtnt"}
    majority = rules.majority_ethnicity if rules else "Kinh"
    eth = {a.id: a.ethnicity for a in applicants}
    cap = {c: math.floor((rules.majority_max_share if rules else 0) * plan.school(c).quota + 1e-9)
           - sum(1 for a in fixed.values() if a.school == c and eth[a.applicant_id] == majority)
           for c in dtnt_schools}
    offsets = plan.aspiration_rule.offsets if plan.aspiration_rule.kind == "offsets" else []

    def rank(s: Scored, k: int) -> tuple:
        eff = s.total - (round(offsets[k - 1] * 100) if offsets else 0)
        return (-eff, *[tuple(-x for x in criterion_value(c, s)) for c in plan.tie_break], s.id)

    scorer = Scorer(plan)
    pool = {s.id: s for s in (scorer(a) for a in applicants)
            if s.id not in fixed and s.id not in res.excluded}
    nxt = dict.fromkeys(pool, 0)
    held: dict[str, list[tuple[tuple, Scored, int]]] = defaultdict(list)
    free = deque(sorted(pool))
    while free:
        sid = free.popleft()
        s = pool[sid]
        asp = s.applicant.aspirations
        if nxt[sid] >= len(asp):
            continue
        k = nxt[sid] + 1
        school = asp[k - 1]
        nxt[sid] = k
        if school in dtnt_schools and not s.applicant.dtnt_eligible:
            res.skipped.append((sid, school, "dtnt_not_eligible"))
            free.append(sid)
            continue
        bisect.insort(held[school], (rank(s, k), s, k), key=lambda t: t[0])
        if school not in dtnt_schools:
            while len(held[school]) > max(seats[school], 0):
                free.append(held[school].pop()[1].id)
            continue
        keep, out, maj = [], [], 0
        for t in held[school]:
            is_maj = school in dtnt_schools and t[1].applicant.ethnicity == majority
            if len(keep) < max(seats[school], 0) and (not is_maj or maj < cap[school]):
                keep.append(t)
                maj += is_maj
            else:
                out.append(t)
        held[school] = keep
        free.extend(t[1].id for t in out)
    for school, items in held.items():
        for _, s, k in items:
            res.admissions[s.id] = Admission(s.id, school, school, "regular", k, s.total / 100)
        by_k: dict[int, float] = {}
        for _, s, k in items:
            by_k[k] = min(by_k.get(k, math.inf), s.total / 100)
        res.cutoffs[school] = dict(sorted(by_k.items()))
    return res


def justified_envy(plan: AdmissionPlan, applicants: Iterable[Applicant], res: AllocationResult) -> int:
    """Candidates who prefer a school (earlier NV, or any NV when unplaced) that has a free seat or
    admitted a regular candidate with a strictly lower score. The rule's NV offsets create such pairs
    on purpose; the count shows the price of that policy."""
    lowest: dict[str, float] = {}
    filled: Counter[str] = Counter()
    for a in res.admissions.values():
        filled[a.school] += 1
        if a.stage == "regular":
            lowest[a.school] = min(lowest.get(a.school, math.inf), a.score)
    dtnt = set(plan.dtnt.schools if plan.dtnt else ()) | {s.code for s in plan.schools if s.kind == "dtnt"}
    envy = 0
    for ap in applicants:
        if ap.id in res.excluded:
            continue
        adm = res.admissions.get(ap.id)
        if adm and adm.stage != "regular":
            continue
        before = ap.aspirations[: adm.aspiration - 1] if adm else ap.aspirations
        mine = res.scores[ap.id]
        for school in before:
            if school in dtnt and not ap.dtnt_eligible:
                continue
            if filled[school] < plan.school(school).quota or lowest.get(school, math.inf) < mine:
                envy += 1
                break
    return envy


def compare(plan: AdmissionPlan, applicants: Iterable[Applicant], rule: AllocationResult,
            da: AllocationResult) -> dict:
    """Side-by-side figures for the policy report."""
    applicants = list(applicants)

    def summary(r: AllocationResult) -> dict:
        by_nv = Counter(a.aspiration for a in r.admissions.values() if a.stage == "regular")
        return {"admitted": len(r.admissions), "unplaced": len(applicants) - len(r.admissions),
                "excluded": len(r.excluded), "by_aspiration": dict(sorted(by_nv.items())),
                "justified_envy": justified_envy(plan, applicants, r)}

    moved = sum(1 for a in applicants
                if (rule.admissions.get(a.id) and rule.admissions[a.id].unit)
                != (da.admissions.get(a.id) and da.admissions[a.id].unit))
    return {"rule": summary(rule), "deferred_acceptance": summary(da), "placement_differs": moved}
