"""Property-based tests of the allocation engine over random plans and applicant pools (hypothesis)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central_server.admissions.allocation import allocate
from central_server.admissions.deferred import deferred_acceptance
from central_server.admissions.plan import parse_plan
from central_server.admissions.scoring import Applicant

SCHOOLS = ["A", "B", "C", "D"]
CHAIN = [{"key": "priority_points"}, {"key": "subject:toan"}, {"key": "subject:van", "order": "asc"},
         {"key": "attr:thcs_average"}, {"key": "encouragement_points"}]


@st.composite
def scenario(draw, plan_dict):
    n_schools = draw(st.integers(1, 4))
    k = draw(st.integers(1, 3))
    rule = draw(st.sampled_from(["offsets", "monotone"]))
    offsets = [0.0]
    for _ in range(k - 1):
        offsets.append(offsets[-1] + draw(st.sampled_from([0.0, 0.5, 1.0])))
    plan = plan_dict(
        schools=[{"code": c, "name": c, "quota": draw(st.integers(0, 5))} for c in SCHOOLS[:n_schools]],
        aspiration_count=k,
        aspiration_rule={"kind": rule, "offsets": offsets if rule == "offsets" else []},
        tie_break=draw(st.permutations(CHAIN))[: draw(st.integers(0, len(CHAIN)))],
        tie_exhausted=draw(st.sampled_from(["admit_all", "reject_all"])),
        eligibility={"min_total": draw(st.sampled_from([0.0, 10.0]))})
    paper = st.sampled_from([None, 0.0, 4.0, 5.0, 6.0, 7.0]) if draw(st.booleans()) else st.sampled_from([5.0, 6.0])
    pool = []
    for i in range(draw(st.integers(0, 25))):
        nv = draw(st.permutations(SCHOOLS[:n_schools]))[: draw(st.integers(0, min(k, n_schools)))]
        pool.append(Applicant(
            f"s{i:02d}", {"van": draw(paper), "toan": draw(paper), "anh": draw(paper)}, tuple(nv),
            priority=tuple(draw(st.lists(st.sampled_from(["1", "2", "3"]), max_size=2, unique=True))),
            prizes=tuple(draw(st.lists(st.sampled_from(["nhat", "nhi", "ba"]), max_size=2, unique=True))),
            cancelled=draw(st.booleans()) and draw(st.booleans()),
            attrs={"thcs_average": draw(st.sampled_from([7.0, 8.0]))} if draw(st.booleans()) else {}))
    return parse_plan(plan), pool


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPS
@given(data=st.data())
def test_allocation_invariants(plan_dict, data):
    plan, pool = data.draw(scenario(plan_dict))
    r = allocate(plan, pool)
    by_id = {a.id: a for a in pool}
    quota = {s.code: s.quota for s in plan.schools}
    count = Counter(a.unit for a in r.admissions.values())
    admit_all_units = {t.unit for t in r.ties if t.criterion == "exhausted:admit_all" and t.admitted}
    for unit, n in count.items():
        # no school over quota unless the configured tie rule admitted a whole tied group there
        assert n <= quota[unit] or unit in admit_all_units
    for aid, adm in r.admissions.items():
        a = by_id[aid]
        assert aid not in r.excluded
        # admitted at the school of exactly that aspiration
        assert a.aspirations[adm.aspiration - 1] == adm.unit
    # NV order: not admitted at an earlier aspiration only because that school was full or the floor was missed
    admitted_by_round: dict[tuple[str, int], list[float]] = defaultdict(list)
    for adm in r.admissions.values():
        admitted_by_round[(adm.unit, adm.aspiration)].append(adm.score)
    for a in pool:
        if a.id in r.excluded:
            continue
        adm = r.admissions.get(a.id)
        tried = a.aspirations[: adm.aspiration - 1] if adm else a.aspirations
        mine = r.scores[a.id]
        for j, school in enumerate(tried, start=1):
            floor = r.floors[school][j]
            filled_after_j = sum(len(admitted_by_round[(school, i)]) for i in range(1, j + 1))
            # ...or lost a tie there, or a tied group at or above this score was refused under `reject_all`
            # (under `reject_all` a unit that refused a tied group at score s in aspiration k admits nobody at or
            # below s in its later aspirations of the round: the group's seats are not handed to lower scores)
            lost_tie = any(t.unit == school and not t.admitted
                           and ((t.aspiration == j and t.applicant_id == a.id)
                                or (t.aspiration <= j and t.tied_score >= mine)) for t in r.ties)
            assert mine < floor or filled_after_j >= quota[school] or lost_tie, (a.id, school, j)
            # the school filled from the top: nobody admitted in that round scored below this candidate
            if mine >= floor:
                assert all(s >= mine for s in admitted_by_round[(school, j)]), (a.id, school, j)
    # cutoffs consistent with the aspiration rule
    for cuts in r.cutoffs.values():
        defined = [(k, v) for k, v in sorted(cuts.items()) if v is not None]
        if plan.aspiration_rule.kind == "monotone":
            assert all(b >= a for (_, a), (_, b) in zip(defined, defined[1:], strict=False))
        elif cuts.get(1) is not None:
            for k, v in defined:
                assert v >= cuts[1] + plan.aspiration_rule.offsets[k - 1] - 1e-9


@PROPS
@given(data=st.data())
def test_allocation_is_deterministic_and_order_independent(plan_dict, data):
    plan, pool = data.draw(scenario(plan_dict))
    first = allocate(plan, pool)
    shuffled = list(pool)
    random.Random(data.draw(st.integers(0, 10**6))).shuffle(shuffled)
    again = allocate(plan, shuffled)
    assert first.admissions == again.admissions
    assert sorted(first.ties, key=repr) == sorted(again.ties, key=repr)
    assert first.cutoffs == again.cutoffs and first.excluded == again.excluded


@PROPS
@given(data=st.data())
def test_deferred_acceptance_respects_quotas_and_preferences(plan_dict, data):
    plan, pool = data.draw(scenario(plan_dict))
    da = deferred_acceptance(plan, pool)
    quota = {s.code: s.quota for s in plan.schools}
    count = Counter(a.unit for a in da.admissions.values())
    assert all(n <= quota[u] for u, n in count.items())
    by_id = {a.id: a for a in pool}
    for aid, adm in da.admissions.items():
        assert by_id[aid].aspirations[adm.aspiration - 1] == adm.unit


@st.composite
def tied_scenario(draw, plan_dict):
    """Few distinct totals, no chain, `reject_all`: tied groups at a cut-off are refused often."""
    n_schools = draw(st.integers(1, 3))
    k = draw(st.integers(2, 3))
    rule = draw(st.sampled_from(["offsets", "monotone"]))
    plan = plan_dict(
        schools=[{"code": c, "name": c, "quota": draw(st.integers(1, 3))} for c in SCHOOLS[:n_schools]],
        aspiration_count=k, aspiration_rule={"kind": rule, "offsets": [0.0] * k if rule == "offsets" else []},
        tie_break=[], tie_exhausted="reject_all")
    paper = st.sampled_from([5.0, 6.0])
    pool = []
    for i in range(draw(st.integers(2, 20))):
        nv = draw(st.permutations(SCHOOLS[:n_schools]))[: draw(st.integers(1, min(k, n_schools)))]
        pool.append(Applicant(f"s{i:02d}", {"van": draw(paper), "toan": draw(paper), "anh": 6.0}, tuple(nv)))
    return parse_plan(plan), pool


@PROPS
@given(data=st.data())
def test_a_refused_tied_group_leaves_its_seats_to_no_lower_later_score(plan_dict, data):
    """Under `reject_all`, a unit that refused a tied group at score s in round j admits nobody at or below s
    in its later rounds: the seats the group left do not go to a lower score from a later aspiration."""
    plan, pool = data.draw(tied_scenario(plan_dict))
    r = allocate(plan, pool)
    refused: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for t in r.ties:
        if t.criterion == "exhausted:reject_all" and not t.admitted and t.stage == "regular":
            refused[t.unit].append((t.aspiration, t.tied_score))
    for adm in r.admissions.values():
        for j, s in refused.get(adm.unit, []):
            assert not (adm.aspiration > j and adm.score <= s + 1e-9), (adm, j, s)
