"""Fixtures for the admissions suites: small hand-made plans and the province-sized synthetic admission."""

from __future__ import annotations

import copy

import pytest

from central_server.admissions import synthetic
from central_server.admissions.plan import parse_plan

DATES = {"registration_open": "2025-04-01T07:00:00+07:00", "registration_close": "2025-04-30T17:00:00+07:00",
         "change_open": "2025-05-05T07:00:00+07:00", "change_close": "2025-05-10T17:00:00+07:00",
         "exam_start": "2025-05-31T07:00:00+07:00", "exam_end": "2025-06-02T11:00:00+07:00",
         "publication": "2025-06-20T08:00:00+07:00"}


def small_plan_dict(**overrides) -> dict:
    """Three papers, schools A (2 places), B (2), C (1), offsets 0/+1/+2, chain: priority, math, literature."""
    d = {
        "year": 2025, "method": "thi_tuyen", "subjects": copy.deepcopy(synthetic.SUBJECTS),
        "schools": [{"code": "A", "name": "THPT A", "quota": 2}, {"code": "B", "name": "THPT B", "quota": 2},
                    {"code": "C", "name": "THPT C", "quota": 1}],
        "aspiration_count": 3, "aspiration_rule": {"kind": "offsets", "offsets": [0, 1, 2]},
        "tie_break": [{"key": "priority_points"}, {"key": "subject:toan"}, {"key": "subject:van"}],
        "tie_exhausted": "admit_all",
        "priority_groups": [{"code": "1", "points": 2.0}, {"code": "2", "points": 1.5}, {"code": "3", "points": 1.0}],
        "prizes": [{"code": "nhat", "points": 1.5}, {"code": "nhi", "points": 1.0}, {"code": "ba", "points": 0.5}],
        "dates": dict(DATES),
    }
    d.update(overrides)
    return d


@pytest.fixture()
def small_plan():
    return lambda **kw: parse_plan(small_plan_dict(**kw))


@pytest.fixture(scope="session")
def province():
    """(plan, applicants): 39 schools, 12,800 candidates, seeded."""
    d = synthetic.plan_dict()
    return parse_plan(d), synthetic.applicants(d)


@pytest.fixture()
def plan_dict():
    """plan_dict(**overrides) -> the small plan as a dict (for validation tests)."""
    return small_plan_dict


@pytest.fixture()
def settings(db_url):
    """The app with the core and the admissions module only (other modules are tested in their own suites)."""
    from tests.central_server.conftest import make_settings

    return make_settings(db_url, modules=["core", "admissions"])
