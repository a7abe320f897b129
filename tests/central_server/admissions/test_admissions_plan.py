"""The plan document: rules as validated data (A-1), the score formula (A-2), eligibility (A-3)."""

from __future__ import annotations

import json

import pytest

from central_server.admissions.plan import PlanError, load_plan, parse_plan
from central_server.admissions.scoring import Applicant, ineligibility, score


def test_small_plan_validates(plan_dict):
    plan = parse_plan(plan_dict())
    assert plan.subject_codes == ["van", "toan", "anh"]
    assert plan.third_subject == "anh"


def test_third_subject_used_three_previous_years_is_rejected(plan_dict):
    history = {2022: "anh", 2023: "anh", 2024: "anh"}
    with pytest.raises(PlanError) as exc:
        parse_plan(plan_dict(), history=history)
    assert "third subject 'anh'" in str(exc.value) and "2022-2024" in str(exc.value)


def test_changing_the_third_subject_is_data_only(plan_dict):
    history = {2022: "anh", 2023: "anh", 2024: "anh"}
    d = plan_dict()
    d["subjects"][2] = {"code": "su", "name": "Lịch sử", "minutes": 60, "role": "third"}
    plan = parse_plan(d, history=history)
    assert plan.third_subject == "su"
    # two consecutive previous years, or a gap, is allowed
    assert parse_plan(plan_dict(), history={2023: "anh", 2024: "anh"}).third_subject == "anh"
    assert parse_plan(plan_dict(), history={2021: "anh", 2022: "anh", 2024: "anh"}).third_subject == "anh"


@pytest.mark.parametrize("patch, message", [
    (lambda d: d["subjects"][1].update(minutes=100), "toan: math paper must last"),
    (lambda d: d["aspiration_rule"].update(offsets=[0, 1]), "offsets rule needs 3 offsets"),
    (lambda d: d["aspiration_rule"].update(offsets=[0, 2, 1]), "must not decrease"),
    (lambda d: d["tie_break"].append({"key": "subject:hoa"}), "unknown subject"),
    (lambda d: d["tie_break"].append({"key": "rm -rf"}), "tie_break.3.key"),
    (lambda d: d["schools"].append({"code": "A", "name": "dup", "quota": 1}), "school codes must be unique"),
    (lambda d: d["schools"][0].update(quota=-1), "schools.0.quota"),
    (lambda d: d["dates"].update(exam_start="2025-04-01T07:00:00+07:00"), "must not be after"),
    (lambda d: d.update(method="xổ số"), "method"),
    (lambda d: d.update(unknown_rule=True), "unknown_rule"),
])
def test_invalid_plans_name_the_problem(plan_dict, patch, message):
    d = plan_dict()
    patch(d)
    with pytest.raises(PlanError) as exc:
        parse_plan(d)
    assert message in str(exc.value)


def test_plan_loads_from_json_and_toml(tmp_path, plan_dict):
    (tmp_path / "p.json").write_text(json.dumps(plan_dict()), encoding="utf-8")
    assert load_plan(tmp_path / "p.json").year == 2025
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PlanError, match="not valid JSON"):
        load_plan(tmp_path / "bad.json")
    toml = ('year = 2025\nmethod = "thi_tuyen"\naspiration_count = 1\n'
            'aspiration_rule = { kind = "monotone" }\n'
            '[[subjects]]\ncode = "van"\nname = "Ngữ văn"\nminutes = 120\nrole = "literature"\n'
            '[[subjects]]\ncode = "toan"\nname = "Toán"\nminutes = 90\nrole = "math"\n'
            '[[schools]]\ncode = "A"\nname = "THPT A"\nquota = 3\n'
            '[dates]\nregistration_open = 2025-04-01T07:00:00+07:00\nregistration_close = 2025-04-30T07:00:00+07:00\n'
            'change_open = 2025-05-01T07:00:00+07:00\nchange_close = 2025-05-02T07:00:00+07:00\n'
            'exam_start = 2025-06-01T07:00:00+07:00\nexam_end = 2025-06-02T07:00:00+07:00\n'
            'publication = 2025-06-20T07:00:00+07:00\n')
    (tmp_path / "p.toml").write_text(toml, encoding="utf-8")
    plan = load_plan(tmp_path / "p.toml")
    assert plan.aspiration_rule.kind == "monotone" and plan.third_subject is None


# ---- score = Σ papers (no coefficients) + highest priority + highest prize -----------------------
@pytest.mark.parametrize("scores, priority, prizes, expected", [
    ({"van": 7.25, "toan": 8.5, "anh": 6.0}, (), (), 21.75),
    ({"van": 7.25, "toan": 8.5, "anh": 6.0}, ("3",), (), 22.75),
    ({"van": 7.25, "toan": 8.5, "anh": 6.0}, ("3", "1", "2"), (), 23.75),       # highest group only: +2.0
    ({"van": 7.25, "toan": 8.5, "anh": 6.0}, (), ("ba", "nhat"), 23.25),        # highest prize only: +1.5
    ({"van": 7.25, "toan": 8.5, "anh": 6.0}, ("2", "3"), ("nhi", "ba"), 24.25),  # +1.5 and +1.0 add
    ({"van": 10.0, "toan": 10.0, "anh": 10.0}, ("1",), ("nhat",), 33.5),
    ({"van": 0.25, "toan": 0.5, "anh": 0.75}, ("3",), ("ba",), 3.0),
])
def test_score_formula_worked_examples(small_plan, scores, priority, prizes, expected):
    s = score(small_plan(), Applicant("x", scores, priority=priority, prizes=prizes))
    assert s.total == round(expected * 100)


def test_combination_rules_are_data(small_plan):
    plan = small_plan(priority_combine="sum", prize_combine="sum")
    s = score(plan, Applicant("x", {"van": 5, "toan": 5, "anh": 5}, priority=("2", "3"), prizes=("nhi", "ba")))
    assert s.total == 1500 + 250 + 150


def test_unknown_priority_code_is_an_error(small_plan):
    with pytest.raises(KeyError, match="unknown priority group code"):
        score(small_plan(), Applicant("x", {"van": 5, "toan": 5, "anh": 5}, priority=("9",)))


# ---- eligibility ----------------------------------------------------------------------------------
@pytest.mark.parametrize("scores, cancelled, reason", [
    ({"van": 5, "toan": 5, "anh": 5}, False, None),
    ({"van": 5, "toan": None, "anh": 5}, False, "missing_paper:toan"),
    ({"van": 5, "anh": 5}, False, "missing_paper:toan"),
    ({"van": 5, "toan": 5, "anh": 0.0}, False, "zero_paper:anh"),
    ({"van": 5, "toan": 5, "anh": 5}, True, "cancelled"),
])
def test_eligibility(small_plan, scores, cancelled, reason):
    assert ineligibility(small_plan(), Applicant("x", scores, cancelled=cancelled)) == reason


def test_eligibility_rules_are_configurable(small_plan):
    plan = small_plan(eligibility={"exclude_zero_paper": False})
    assert ineligibility(plan, Applicant("x", {"van": 5, "toan": 0.0, "anh": 5})) is None
