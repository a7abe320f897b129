"""Core: sign-in with lockout, session cookie flags, bearer tokens, roles, audit rows — on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from central_server.core.tables import AuditLog, AuthToken


def test_login_sets_httponly_samesite_cookie_and_stores_only_hash(client, make_user, db):
    make_user("so_admin", "province_admin")
    r = client.post("/login", data={"username": "so_admin", "password": "Matkhau-2025!", "next": "/account"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    secret = r.cookies["cs_session"]
    stored = db.scalars(select(AuthToken.token_hash)).all()
    assert stored and secret not in stored  # only the SHA-256 is stored
    page = client.get("/account")
    assert page.status_code == 200 and "Quản trị Sở" in page.text


def test_wrong_password_is_refused_audited_and_lockout_after_threshold(client, make_user, db):
    make_user("gv1", "teacher", school_id=1)
    answers = []
    for _ in range(5):
        r = client.post("/login", data={"username": "gv1", "password": "sai-mat-khau"}, follow_redirects=False)
        assert r.status_code == 401
        answers.append(r.text)
    # now even the right password is refused from this client, with the same answer as a wrong password
    r = client.post("/login", data={"username": "gv1", "password": "Matkhau-2025!"}, follow_redirects=False)
    assert r.status_code == 401 and "Tên đăng nhập hoặc mật khẩu không đúng" in r.text
    assert len(set(answers + [r.text])) == 1
    rows = db.scalars(select(AuditLog).where(AuditLog.action == "auth.login")).all()
    assert len(rows) == 6 and all(r.outcome == "denied" for r in rows)
    assert rows[-1].detail == {"reason": "locked", "scope": "client"}
    assert not client.cookies.get("cs_session")


def test_unknown_user_gets_same_message(client):
    r = client.post("/login", data={"username": "khongco", "password": "x" * 10}, follow_redirects=False)
    assert r.status_code == 401 and "Tên đăng nhập hoặc mật khẩu không đúng" in r.text


def test_bearer_token_and_role_gate(client, make_user, bearer_for):
    admin = make_user("so_admin", "province_admin")
    teacher = make_user("gv2", "teacher", school_id=3)
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    h = bearer_for(teacher)
    me = client.get("/api/auth/me", headers=h).json()
    assert me["role"] == "teacher" and me["school_id"] == 3
    assert client.get("/api/audit", headers=h).status_code == 403
    rows = client.get("/api/audit", headers=bearer_for(admin)).json()
    assert any(r["action"] == "auth.login" and r["actor_name"] == "gv2" for r in rows)


def test_bad_token_form_gets_4xx(client):
    r = client.post("/api/auth/token", data={"username": "x' OR 1=1 --", "password": "' OR ''='"})
    assert r.status_code == 401
    assert client.post("/api/auth/token", data={}).status_code == 422


def test_web_page_redirects_to_login_and_back(client, make_user):
    make_user("so_staff", "province_staff")
    r = client.get("/account", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/account"
    r = client.post("/login", data={"username": "so_staff", "password": "Matkhau-2025!",
                                    "next": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"  # no open redirect


def test_logout_revokes_session(client, make_user, login_as):
    make_user("so_staff", "province_staff")
    login_as(client, "so_staff")
    cookie = client.cookies.get("cs_session")
    assert client.get("/api/auth/me").status_code == 200
    client.post("/logout", follow_redirects=False)
    client.cookies.set("cs_session", cookie)
    assert client.get("/api/auth/me").status_code == 401
