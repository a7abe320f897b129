"""Worked examples of the allocation engine (A-4, A-5, A-6): NV order, offsets, monotone cutoffs, ties,
direct admissions, chuyên first, DTNT eligibility and the majority cap, deferred acceptance."""

from __future__ import annotations

import pytest

from central_server.admissions.allocation import AllocationError, allocate
from central_server.admissions.deferred import compare, deferred_acceptance
from central_server.admissions.scoring import Applicant


def ap(aid, total_thirds, nv, **kw):
    """An applicant whose three papers are (van, toan, anh) = total_thirds (a tuple) and aspirations `nv`."""
    van, toan, anh = total_thirds
    return Applicant(aid, {"van": van, "toan": toan, "anh": anh}, tuple(nv), **kw)


def test_fills_from_the_top_and_nv1_admitted_never_considered_later(small_plan):
    plan = small_plan()
    pool = [ap("a1", (9, 9, 9), "AB"), ap("a2", (8, 8, 8), "AB"), ap("a3", (7, 7, 7), "AB"),
            ap("b1", (6, 6, 6), "BA")]
    r = allocate(plan, pool)
    assert {i: (a.unit, a.aspiration) for i, a in r.admissions.items()} == {
        "a1": ("A", 1), "a2": ("A", 1), "b1": ("B", 1), "a3": ("B", 2)}
    assert r.cutoffs["A"] == {1: 24.0}
    # a3 (21) needed B's NV1 cutoff (18) + 1 = 19 for NV2 at B
    assert r.floors["B"][2] == 19.0


def test_offsets_block_a_later_aspiration_below_cutoff_plus_offset(small_plan):
    plan = small_plan()
    pool = [ap("x1", (7, 7, 7), "B"), ap("x2", (6, 6, 6), "B"),  # B NV1 cutoff 18, one seat left? no: quota 2
            ap("y", (6.25, 6.25, 6.25), "AB"), ap("z1", (9, 9, 9), "A"), ap("z2", (9, 9, 8), "A")]
    r = allocate(plan, pool)
    assert "y" not in r.admissions  # A full at NV1; B full at NV1
    plan_c = small_plan(schools=[{"code": "A", "name": "A", "quota": 1}, {"code": "B", "name": "B", "quota": 3}])
    r = allocate(plan_c, [ap("x", (6, 6, 6), "B"), ap("z", (9, 9, 9), "A"), ap("y", (6.25, 6.25, 6.25), "AB"),
                          ap("w", (6.5, 6.5, 6.5), "AB")])
    # B's NV1 cutoff is 18; NV2 needs 19: y (18.75) is refused although B has seats; w (19.5) is admitted
    assert r.admissions["w"].unit == "B" and r.admissions["w"].aspiration == 2
    assert "y" not in r.admissions and ("y", "B", "below_floor_nv2") in r.skipped


def test_monotone_rule_keeps_later_cutoffs_at_or_above_earlier(small_plan):
    plan = small_plan(aspiration_rule={"kind": "monotone"},
                      schools=[{"code": "A", "name": "A", "quota": 1}, {"code": "B", "name": "B", "quota": 3}])
    r = allocate(plan, [ap("x", (6, 6, 6), "B"), ap("z", (9, 9, 9), "A"), ap("y", (5.75, 6, 6), "AB"),
                        ap("w", (6, 6, 6.25), "AB")])
    assert "y" not in r.admissions  # 17.75 < B's NV1 cutoff 18
    assert r.admissions["w"].aspiration == 2  # 18.25 >= 18
    assert r.cutoffs["B"][2] >= r.cutoffs["B"][1]


def test_tie_at_cutoff_broken_by_chain_and_logged(small_plan):
    plan = small_plan(schools=[{"code": "A", "name": "A", "quota": 2}, {"code": "B", "name": "B", "quota": 2},
                               {"code": "C", "name": "C", "quota": 1}])
    # three candidates tie at 24 for the last seat of A... with one clear winner above
    pool = [ap("top", (9, 9, 9), "A"),
            ap("t_prio", (8, 8, 7), "A", priority=("3",)),  # 23 + 1 = 24, priority 1.0
            ap("t_math", (7, 9, 8), "A"),                    # 24, no priority, math 9
            ap("t_van", (9, 8, 7), "A")]                     # 24, no priority, math 8
    r = allocate(plan, pool)
    assert set(r.admitted_to("A")[i].applicant_id for i in range(2)) == {"top", "t_prio"}
    decisions = {t.applicant_id: t for t in r.ties}
    assert decisions["t_prio"].admitted and decisions["t_prio"].criterion == "priority_points"
    assert not decisions["t_math"].admitted and decisions["t_math"].criterion == "priority_points"
    assert decisions["t_math"].tied == 3 and decisions["t_math"].tied_score == 24.0


def test_tie_goes_down_the_chain(small_plan):
    plan = small_plan(schools=[{"code": "A", "name": "A", "quota": 1}])
    pool = [ap("m9", (7, 9, 8), "A"), ap("m8", (8, 8, 8), "A"), ap("m9b", (6, 9, 9), "A")]
    r = allocate(plan, pool)
    # priority equal (0) -> math: m9 and m9b (9) beat m8 -> literature: m9 (7) beats m9b (6)
    assert list(r.admissions) == ["m9"]
    by = {t.applicant_id: t for t in r.ties}
    assert by["m8"].criterion == "subject:toan" and not by["m8"].admitted
    assert by["m9"].criterion == "subject:van" and by["m9"].admitted and by["m9"].value == 7.0
    assert by["m9b"].criterion == "subject:van" and not by["m9b"].admitted


@pytest.mark.parametrize("rule, admitted", [("admit_all", {"p", "q"}), ("reject_all", set())])
def test_exhausted_chain_follows_the_configured_rule(small_plan, rule, admitted):
    plan = small_plan(schools=[{"code": "A", "name": "A", "quota": 1}], tie_exhausted=rule)
    r = allocate(plan, [ap("p", (8, 8, 8), "A"), ap("q", (8, 8, 8), "A")])
    assert set(r.admissions) == admitted
    assert {t.criterion for t in r.ties} == {f"exhausted:{rule}"}


def test_ineligible_candidates_are_excluded_with_reason(small_plan):
    r = allocate(small_plan(), [ap("ok", (5, 5, 5), "A"), ap("zero", (9, 0, 9), "A"),
                                Applicant("miss", {"van": 9, "toan": 9}, ("A",)),
                                ap("canc", (9, 9, 9), "A", cancelled=True)])
    assert set(r.admissions) == {"ok"}
    assert r.excluded == {"zero": "zero_paper:toan", "miss": "missing_paper:anh", "canc": "cancelled"}


def test_direct_admission_takes_a_seat_first(small_plan):
    plan = small_plan(schools=[{"code": "A", "name": "A", "quota": 2}],
                      direct_groups=[{"code": "khuyet_tat", "label": "Khuyết tật"}])
    r = allocate(plan, [ap("d", (1, 1, 1), "A", direct="khuyet_tat"), ap("h1", (9, 9, 9), "A"),
                        ap("h2", (8, 8, 8), "A")])
    assert r.admissions["d"].stage == "direct"
    assert set(r.admissions) == {"d", "h1"}


def _chuyen_plan(small_plan):
    return small_plan(schools=[
        {"code": "CH", "name": "Chuyên", "quota": 0, "kind": "specialised", "specialised_classes": [
            {"code": "C_toan", "name": "Chuyên Toán", "quota": 1, "paper": "chuyen_toan",
             "weights": {"van": 1, "toan": 1, "anh": 1, "chuyen_toan": 2}}]},
        {"code": "A", "name": "A", "quota": 1}])


def test_specialised_first_and_declined_candidates_compete_for_regular(small_plan):
    plan = _chuyen_plan(small_plan)
    star = Applicant("star", {"van": 8, "toan": 9, "anh": 8, "chuyen_toan": 9}, ("A",), ("C_toan",))
    good = ap("good", (8, 8, 8), "A")
    r = allocate(plan, [star, good])
    assert r.admissions["star"].unit == "C_toan" and r.admissions["star"].score == 43.0
    assert r.admissions["good"].unit == "A"
    r2 = allocate(plan, [star, good], specialised_declined=["star"])
    assert r2.admissions["star"].unit == "A" and "good" not in r2.admissions


def _dtnt_plan(small_plan, quota=10, share=0.10):
    return small_plan(schools=[{"code": "D", "name": "DTNT", "quota": quota, "kind": "dtnt"},
                               {"code": "A", "name": "A", "quota": 5}],
                      dtnt={"schools": ["D"], "min_residence_months": 36, "communes": ["94001"],
                            "majority_ethnicity": "Kinh", "majority_max_share": share})


def test_dtnt_takes_only_eligible_and_caps_the_majority(small_plan):
    plan = _dtnt_plan(small_plan)
    pool = [ap(f"k{i}", (9, 9, 9 - i * 0.25), "DA", dtnt_eligible=True, ethnicity="Kinh") for i in range(3)]
    pool += [ap("m1", (5, 5, 5), "DA", dtnt_eligible=True, ethnicity="Khmer"),
             ap("n1", (9, 9, 9), "DA", dtnt_eligible=False, ethnicity="Khmer")]
    r = allocate(plan, pool)
    at_d = {a.applicant_id for a in r.admitted_to("D")}
    assert at_d == {"k0", "m1"}  # ⌊10 % × 10⌋ = 1 Kinh place, the best Kinh candidate gets it
    assert ("n1", "D", "dtnt_not_eligible") in r.skipped and r.admissions["n1"].unit == "A"
    assert ("k1", "D", "dtnt_majority_cap") in r.skipped


def test_duplicate_ids_and_unknown_schools_are_refused(small_plan):
    with pytest.raises(AllocationError, match="duplicate applicant id"):
        allocate(small_plan(), [ap("x", (5, 5, 5), "A"), ap("x", (6, 6, 6), "B")])
    with pytest.raises(AllocationError, match="unknown school Z"):
        allocate(small_plan(), [ap("x", (5, 5, 5), "AZ")])
    with pytest.raises(AllocationError, match="same school twice"):
        allocate(small_plan(), [ap("x", (5, 5, 5), "AA")])


def test_deferred_acceptance_is_stable_and_compared(small_plan):
    plan = small_plan(aspiration_rule={"kind": "monotone"})
    pool = [ap("p1", (9, 9, 9), "AB"), ap("p2", (8, 8, 8), "AB"), ap("p3", (7, 7, 7), "AB"),
            ap("q1", (6, 6, 6), "BA"), ap("q2", (5, 5, 5), "BC"), ap("q3", (7.5, 7.5, 7.5), "CB")]
    rule = allocate(plan, pool)
    da = deferred_acceptance(plan, pool)
    # DA: B is filled by the two best who want it (p3 21, q1 18), so q2 falls to C... C is taken by q3
    assert da.admissions["p3"].unit == "B" and da.admissions["q1"].unit == "B"
    report = compare(plan, pool, rule, da)
    assert report["deferred_acceptance"]["justified_envy"] == 0
    assert report["rule"]["admitted"] == len(rule.admissions)


@pytest.mark.parametrize("rule", [{"kind": "offsets", "offsets": [0, 0, 0]}, {"kind": "monotone"}])
def test_reject_all_tied_leaves_no_seat_to_a_lower_later_aspiration(small_plan, rule):
    """B (2 seats) refuses the three candidates tied at 21 in NV1 (`reject_all`, no criterion in the chain):
    an NV2 candidate at 18 or at 21 must not take the seats they left; one at 21.25 may."""
    plan = small_plan(aspiration_rule=rule, tie_break=[], tie_exhausted="reject_all",
                      schools=[{"code": "A", "name": "A", "quota": 1}, {"code": "B", "name": "B", "quota": 2}])
    pool = [ap("t1", (7, 7, 7), "B"), ap("t2", (7, 7, 7), "B"), ap("t3", (7, 7, 7), "B"),
            ap("z", (10, 10, 10), "A"), ap("low", (6, 6, 6), "AB"), ap("same", (7, 7, 7), "AB"),
            ap("high", (7, 7, 7.25), "AB")]
    r = allocate(plan, pool)
    assert not {"t1", "t2", "t3", "low", "same"} & set(r.admissions)
    assert r.admissions["high"].unit == "B" and r.admissions["high"].aspiration == 2
    assert ("low", "B", "below_refused_tie_nv2") in r.skipped and ("same", "B", "below_refused_tie_nv2") in r.skipped
