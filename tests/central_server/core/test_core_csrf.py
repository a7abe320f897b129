"""CSRF protection (central_server/core/csrf.py) through the real app, on SQLite and PostgreSQL.

The clients here are fresh TestClients that do NOT send the token by default (unlike the `client` /
`client_for` fixtures), so every request shows what a forged cross-site request would get.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central_server.core.auth import _digest
from central_server.core.csrf import FAILED
from central_server.core.tables import AuditLog, AuthToken
from central_server.core.templating import TEMPLATE_DIR
from central_server.masterdata.tables import School
from tests.central_server.conftest import DEFAULT_PASSWORD, csrf_token_of

JSON = {"accept": "application/json"}


@pytest.fixture()
def fresh(app):
    """TestClient factory without any CSRF header."""
    opened: list[TestClient] = []

    def _make() -> TestClient:
        c = TestClient(app)
        c.__enter__()
        opened.append(c)
        return c

    yield _make
    for c in opened:
        c.__exit__(None, None, None)


def _sign_in(c: TestClient, username: str) -> str:
    """Sign in through the real login form; returns the token of the new session (from a real page)."""
    token = csrf_token_of(c, "/login")
    r = c.post("/login", data={"username": username, "password": DEFAULT_PASSWORD, "next": "/account",
                               "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_token_of(c, "/account")


def _schools(db) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(School.code)))


def test_login_form_needs_the_token(app, db, fresh, make_user):
    make_user("so_admin", "province_admin")
    c = fresh()
    form = {"username": "so_admin", "password": DEFAULT_PASSWORD, "next": "/account"}
    # no token at all (a forged cross-site login: the victim has no cookie yet)
    r = c.post("/login", data=form, headers=JSON, follow_redirects=False)
    assert r.status_code == 403 and r.json()["detail"] == FAILED
    assert "cs_session" not in r.cookies
    # a browser gets a readable Vietnamese page, not a stack trace
    page = c.post("/login", data=form, headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 403 and "mã bảo vệ biểu mẫu" in page.text and "<html" in page.text
    # the login page sets the anonymous CSRF cookie (HttpOnly, SameSite=Lax) and puts the token in the form
    login_page = c.get("/login")
    set_cookie = login_page.headers["set-cookie"]
    assert set_cookie.startswith("cs_csrf=") and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', login_page.text).group(1)
    assert c.post("/login", data={**form, "csrf_token": "0" * 64}, follow_redirects=False).status_code == 403
    # a token from another browser (its own anonymous cookie) is worthless here
    other = csrf_token_of(fresh(), "/login")
    assert other != token
    assert c.post("/login", data={**form, "csrf_token": other}, follow_redirects=False).status_code == 403
    # the password was never checked for refused requests: no audit row, no session issued
    assert db.scalars(select(AuditLog).where(AuditLog.action == "auth.login")).all() == []
    assert db.scalars(select(AuthToken)).all() == []
    ok = c.post("/login", data={**form, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and ok.cookies.get("cs_session")


def test_cookie_authenticated_post_needs_the_session_token(app, db, fresh, make_user):
    make_user("so_admin", "province_admin")
    c = fresh()
    token = _sign_in(c, "so_admin")
    school = {"code": "94000001", "name": "THPT Thử Nghiệm"}
    # without a token, with a wrong one, with the anonymous token of before sign-in: 403 and nothing written
    assert c.post("/api/masterdata/schools", json=school).status_code == 403
    assert c.post("/api/masterdata/schools", json=school, headers={"X-CSRF-Token": "x" * 64}).status_code == 403
    stranger = fresh()
    _sign_in(stranger, "so_admin")  # same person, another session: its token does not fit this session
    assert csrf_token_of(stranger, "/account") != token
    r = c.post("/api/masterdata/schools", json=school,
               headers={"X-CSRF-Token": csrf_token_of(stranger, "/account")})
    assert r.status_code == 403 and r.json()["detail"] == FAILED
    assert _schools(db) == []
    # with this session's token (header): it works
    r = c.post("/api/masterdata/schools", json=school, headers={"X-CSRF-Token": token})
    assert r.status_code == 201, r.text
    assert _schools(db) == ["94000001"]


def test_logout_form_field_token(app, db, fresh, make_user):
    make_user("gv1", "province_staff")
    c = fresh()
    token = _sign_in(c, "gv1")
    secret = c.cookies.get("cs_session")
    # a forged logout (no token / wrong token in the form field) changes nothing: the session stays valid
    assert c.post("/logout", follow_redirects=False).status_code == 403
    forged = token[:-1] + ("1" if token.endswith("0") else "0")
    assert c.post("/logout", data={"csrf_token": forged}, follow_redirects=False).status_code == 403
    assert c.post("/logout", data={"csrf_token": "mã-đ" + token}, follow_redirects=False).status_code == 403
    hostile = {"X-CSRF-Token": ("\u00e9" * 64).encode("latin-1")}  # non-ASCII: 403, never a 500
    assert c.post("/logout", headers=hostile, follow_redirects=False).status_code == 403
    assert c.get("/api/auth/me").status_code == 200
    row = db.scalars(select(AuthToken).where(AuthToken.token_hash == _digest(secret))).one()
    assert row.revoked is False
    # the real form (hidden field csrf_token in base.html) signs out
    r = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    db.refresh(row)
    assert row.revoked is True


def test_bearer_api_needs_no_token(app, db, fresh, make_user):
    make_user("so_admin", "province_admin")
    api = fresh()
    r = api.post("/api/auth/token", data={"username": "so_admin", "password": DEFAULT_PASSWORD})
    assert r.status_code == 200
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = api.post("/api/masterdata/schools", json={"code": "94000002", "name": "THCS A"}, headers=bearer)
    assert r.status_code == 201, r.text
    # a browser that also holds a session cookie but authenticates by bearer: still exempt (no ambient credential)
    browser = fresh()
    _sign_in(browser, "so_admin")
    r = browser.post("/api/masterdata/schools", json={"code": "94000003", "name": "THCS B"}, headers=bearer)
    assert r.status_code == 201, r.text
    assert sorted(_schools(db)) == ["94000002", "94000003"]
    # anonymous API calls are not turned into 403: they still get 401
    assert fresh().post("/api/masterdata/schools", json={"code": "9", "name": "x"}).status_code == 401


def test_public_forms_need_the_anonymous_token(app, fresh):
    c = fresh()
    form = {"candidate_no": "123456", "personal_id": "079309000001"}
    r = c.post("/tuyen-sinh/tra-cuu", data=form, headers=JSON)
    assert r.status_code == 403 and r.json()["detail"] == FAILED
    r = c.post("/tuyen-sinh/dang-ky", data={"full_name": "Thạch Dũng"}, headers=JSON)
    assert r.status_code == 403 and r.json()["detail"] == FAILED
    token = csrf_token_of(c, "/tuyen-sinh/tra-cuu")
    r = c.post("/tuyen-sinh/tra-cuu", data={**form, "csrf_token": token}, headers=JSON)
    assert r.status_code != 403 or r.json()["detail"] != FAILED
    # a malformed multipart body without token: a clean 403, never a 500
    bad = c.post("/tuyen-sinh/dang-ky", content=b"--x\r\nbroken", headers={
        **JSON, "content-type": "multipart/form-data; boundary=x"})
    assert bad.status_code == 403


def test_every_post_form_in_the_templates_carries_the_token():
    missing = []
    for path in sorted(Path(TEMPLATE_DIR).rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<form\b[^>]*>", text, flags=re.S | re.I):
            if re.search(r'method\s*=\s*"post"', m.group(0), re.I) and \
                    "{{ csrf_field() }}" not in text[m.end():m.end() + 200].split("</form>")[0]:
                missing.append(f"{path.relative_to(TEMPLATE_DIR)}:{text[:m.start()].count(chr(10)) + 1}")
    assert missing == []
