"""The applicant's edit code (issue 15 item 8): long enough not to be guessed, and guessing is throttled per
client and per application; the right code still works for the applicant from another device. SQLite + PostgreSQL."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from central_server.admissions.service import new_edit_code
from tests.central_server.admissions.test_admissions_web import admin, clock, register, with_plan  # noqa: F401
from tests.central_server.conftest import arm_csrf

CODE = re.compile(r'id="edit-code">([0-9A-Z-]+)<')


def test_edit_codes_are_long_and_random():
    codes = {new_edit_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){2}", c) for c in codes)


def test_guessing_is_throttled_per_application_and_per_client(app, client, clock, with_plan):
    r = register(client)
    code = CODE.search(r.text).group(1)
    pid = "079309001234"
    answers = [client.post("/tuyen-sinh/ho-so", data={"personal_id": pid, "code": f"{i:08X}"}) for i in range(5)]
    assert all(a.status_code == 403 and "không đúng" in a.text for a in answers)
    # the sixth try, even with the right code, is refused from every client for a while (per application)
    r = client.post("/tuyen-sinh/ho-so", data={"personal_id": pid, "code": code})
    assert r.status_code == 403 and "quá nhiều lần" in r.text
    with TestClient(app, client=("10.3.3.3", 5000)) as other:
        arm_csrf(other)
        r = other.post("/tuyen-sinh/ho-so", data={"personal_id": pid, "code": code})
        assert r.status_code == 403 and "quá nhiều lần" in r.text
        # per client: ten wrong codes over many personal ids block this client, not others
        for i in range(10):
            other.post("/tuyen-sinh/ho-so", data={"personal_id": f"07930900{i:04d}", "code": "AAAAA-BBBBB-CCCCC"})
        r = other.post("/tuyen-sinh/ho-so", data={"personal_id": "079309009999", "code": "AAAAA-BBBBB-CCCCC"})
        assert "quá nhiều lần" in r.text


def test_code_is_accepted_with_or_without_dashes_and_in_lower_case(client, clock, with_plan):
    r = register(client)
    code = CODE.search(r.text).group(1)
    for variant in (code, code.replace("-", ""), code.lower()):
        r = client.post("/tuyen-sinh/ho-so", data={"personal_id": "079309001234", "code": variant})
        assert r.status_code == 200 and "Nguyễn Thị Lan" in r.text
