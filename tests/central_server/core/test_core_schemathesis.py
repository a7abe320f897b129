"""schemathesis against the OpenAPI schema: no 5xx on any endpoint, signed in as the province admin.

Runs on SQLite (the PostgreSQL run would double the time; the same handlers and queries are exercised on
PostgreSQL by the other suites).
"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from central_server.masterdata.service import create_school
from central_server.masterdata.tables import SchoolClass, Student


@pytest.fixture()
def api_schema(app, db, make_user):
    school = create_school(db, "94000701", "THPT Thử")
    klass = SchoolClass(school_id=school.id, school_year="2025-2026", code="10A1", grade=10)
    db.add(klass)
    db.flush()
    db.add(Student(personal_id="094207000001", full_name="Học Sinh", school_id=school.id, class_id=klass.id,
                   birth_date=dt.date(2009, 1, 1)))
    db.commit()
    make_user("so_admin", "province_admin")
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_server_error_on_any_endpoint(api_schema, client):
    """Every operation of the schema, with generated (often hostile) parameters and bodies: never a 5xx.

    (schemathesis' own pytest plugin does not load under pytest 9, so operations are driven via hypothesis.)
    """
    token = client.post("/api/auth/token", data={"username": "so_admin", "password": "Matkhau-2025!"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    tested = []
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case):
            auth = {} if case.path == "/api/auth/token" else headers
            case.call_and_validate(headers=auth, checks=[not_a_server_error])

        check()
        tested.append(op.label)
    assert any("/api/attendance/overview" in label for label in tested)
