"""Hostile values sent to every route of every module (issue 15 item 10): NUL bytes, integers past 32 and 64
bits, 12,000-character text, class codes with '/' and diacritics, in every path, query and form parameter, signed
in as the province admin and as nobody. The answer is never a 5xx, on SQLite and on PostgreSQL (where NUL and
out-of-range integers used to reach the driver). Property-based with hypothesis: each route gets generated
combinations of its own parameters."""

from __future__ import annotations

import datetime as dt
import inspect
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import UploadFile

from central_server.core.input_guard import InvalidInput, check_parameters
from central_server.core.tables import User
from central_server.masterdata.service import create_school
from central_server.masterdata.tables import SchoolClass, Student
from tests.central_server.app_routes import flat_routes

HOSTILE = ["\x00", "a\x00b", "2147483648", "-2147483649", "9223372036854775808", "x" * 12_000, "10Văn",
           "10/A2", "1", "0", "", "%00", "'; drop table users; --", "Trương Thị Ánh\u0301", "\ud7ff\ufffd"]
SKIP = {"/logout", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"}


def _params(route: APIRoute):
    d = route.dependant
    path = [p.name for p in d.path_params]
    query = [p.name for p in d.query_params]
    form, files = [], []
    for p in d.body_params:
        annotation = p.field_info.annotation
        if inspect.isclass(annotation) and issubclass(annotation, (UploadFile, bytes)):
            files.append(p.alias)
        else:
            form.append(p.alias)
    return path, query, form, files




def _routes(app) -> list[tuple[str, APIRoute]]:
    return [(path, r) for path, r in flat_routes(app.routes) if path not in SKIP]


@pytest.fixture()
def seeded(app, db, make_user):
    a = create_school(db, "94000701", "THPT Thử A")
    b = create_school(db, "94000702", "THPT Thử B")
    klass = SchoolClass(school_id=a.id, school_year="2025-2026", code="10/A2", grade=10)
    db.add(klass)
    db.flush()
    db.add(Student(personal_id="094207000001", full_name="Học Sinh", school_id=a.id, class_id=klass.id,
                   birth_date=dt.date(2009, 1, 1)))
    db.commit()
    make_user("so_admin", "province_admin")
    make_user("gv_a", "teacher", school_id=a.id)
    return a, b


def _send(c, method: str, path: str, query: dict, form: dict, files: dict):
    kwargs = {"params": query, "follow_redirects": False}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        if files:
            kwargs["files"] = {k: (v, b"\x00" * 16, "application/octet-stream") for k, v in files.items()}
            kwargs["data"] = form
        elif form:
            kwargs["data"] = form
        else:
            kwargs["json"] = {"school_id": 2147483648, "name": "a\x00b", "code": "10/A2", "reason": "x" * 12_000}
    return c.request(method, path, **kwargs)


def test_unstorable_values_are_refused_before_the_driver():
    for bad in ("a\x00b", 2**63, -(2**63) - 1, ["ok", "\x00"]):
        with pytest.raises(InvalidInput):
            check_parameters({"v": bad})
    check_parameters([{"v": "Trương"}, {"v": 2**63 - 1}])
    check_parameters(("x", None, 1.5, b"\x00binary is fine"))


def test_no_route_answers_5xx_to_hostile_values(app, seeded, client, client_for, db):
    admin = client_for(db.query(User).filter_by(username="so_admin").one())
    teacher = client_for(db.query(User).filter_by(username="gv_a").one())
    failures: list[str] = []
    routes = _routes(app)
    assert len(routes) >= 60

    clients = {"admin": admin, "teacher": teacher, "anonymous": client}
    for full_path, route in routes:
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            _hypothesis_check(route, method, full_path, clients, failures)()
    assert not failures, "\n".join(failures[:30])


def _hypothesis_check(route: APIRoute, method: str, full_path: str, clients: dict, failures: list[str]):
    """A hypothesis test for one route: generated hostile values for each of its parameters, any client."""
    path_names, query, form, files = _params(route)
    names = query + form + files + path_names

    @given(values=st.fixed_dictionaries({n: st.sampled_from(HOSTILE) for n in names}),
           who=st.sampled_from(sorted(clients)))
    @settings(max_examples=8 if names else 3, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    def check(values, who):
        path = full_path
        for n in path_names:
            v = quote(values[n], safe="") or "1"
            path = path.replace("{" + n + "}", v).replace("{" + n + ":path}", v)
        r = _send(clients[who], method, path, {n: values[n] for n in query}, {n: values[n] for n in form},
                  {n: values[n] or "f.pdf" for n in files})
        if r.status_code >= 500:
            failures.append(f"{method} {full_path} as {who} {values!r:.200} -> {r.status_code}")

    return check
