"""Sign-in throttling (issue 15 item 8): per client across usernames, per account+client, a locked account answers
like an unknown one, a stranger cannot lock a teacher out, X-Forwarded-For is not believed from an untrusted peer,
and weak or breached passwords are refused for new accounts. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central_server.core.auth import create_user
from central_server.core.passwords import WeakPasswordError, check_policy
from central_server.core.tables import AuditLog
from tests.central_server.conftest import arm_csrf


def _client_at(app, address: str) -> TestClient:
    c = TestClient(app, client=(address, 40000))
    c.__enter__()
    return arm_csrf(c)


def _try(c: TestClient, username: str, password: str):
    return c.post("/login", data={"username": username, "password": password}, follow_redirects=False)


def test_many_usernames_from_one_client_are_blocked(app, client, make_user, settings):
    make_user("gv_real", "teacher", school_id=1)
    for i in range(settings.client_failure_limit):
        assert _try(client, f"khong_co_{i}", "Sai-mat-khau-1").status_code == 401
    # the client is now blocked, even for a real account with its right password
    r = _try(client, "gv_real", "Matkhau-2025!")
    assert r.status_code == 401 and "Thiết bị này" in r.text
    # another client is not affected
    other = _client_at(app, "10.0.0.7")
    try:
        assert _try(other, "gv_real", "Matkhau-2025!").status_code == 303
    finally:
        other.__exit__(None, None, None)


def test_locked_account_answers_like_an_unknown_one(app, make_user):
    make_user("gv_khoa", "teacher", school_id=1)
    attacker = _client_at(app, "10.0.0.66")
    try:
        for _ in range(5):
            _try(attacker, "gv_khoa", "Sai-mat-khau-1")
        locked = _try(attacker, "gv_khoa", "Sai-mat-khau-1")
        unknown = _try(attacker, "khong_ton_tai", "Sai-mat-khau-1")
        assert locked.status_code == unknown.status_code == 401
        assert locked.text.replace("gv_khoa", "X") == unknown.text.replace("khong_ton_tai", "X")
    finally:
        attacker.__exit__(None, None, None)


def test_a_stranger_cannot_lock_a_teacher_out(app, make_user, db):
    make_user("gv_nan_nhan", "teacher", school_id=1)
    attacker = _client_at(app, "10.0.0.66")
    teacher = _client_at(app, "10.1.2.3")
    try:
        for _ in range(12):
            _try(attacker, "gv_nan_nhan", "Sai-mat-khau-1")
        assert _try(attacker, "gv_nan_nhan", "Matkhau-2025!").status_code == 401  # the attacker's pair is locked
        assert _try(teacher, "gv_nan_nhan", "Matkhau-2025!").status_code == 303  # the teacher signs in
    finally:
        attacker.__exit__(None, None, None)
        teacher.__exit__(None, None, None)
    rows = db.scalars(select(AuditLog).where(AuditLog.action == "auth.login", AuditLog.ip == "10.0.0.66")).all()
    assert len(rows) == 13 and all(r.outcome == "denied" for r in rows)


def test_distributed_guessing_locks_the_account_for_everyone(app, make_user, settings):
    app.state.settings = settings.model_copy(update={"account_lockout_threshold": 6})
    make_user("gv_dich", "teacher", school_id=1)
    clients = [_client_at(app, f"10.9.0.{i}") for i in range(4)]
    try:
        for i in range(6):
            _try(clients[i % 3], "gv_dich", "Sai-mat-khau-1")
        r = _try(clients[3], "gv_dich", "Matkhau-2025!")
        assert r.status_code == 401 and "không đúng" in r.text
    finally:
        for c in clients:
            c.__exit__(None, None, None)


def test_forwarded_for_is_not_believed_from_an_untrusted_peer(client, make_user, settings):
    """The app sees the TCP peer (uvicorn adds proxy headers only for CENTRAL_TRUSTED_PROXIES): rotating
    X-Forwarded-For does not reset the client's counter."""
    for i in range(settings.client_failure_limit):
        client.post("/login", data={"username": f"u{i}", "password": "Sai-mat-khau-1"},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"}, follow_redirects=False)
    r = client.post("/login", data={"username": "u99", "password": "Sai-mat-khau-1"},
                    headers={"X-Forwarded-For": "198.51.100.1"}, follow_redirects=False)
    assert "Thiết bị này" in r.text


@pytest.mark.parametrize("password,role", [("12345678", "province_admin"), ("password", "teacher"),
                                           ("Matkhau123", "teacher"), ("short-Pw9", "school_admin"),
                                           ("so_admin-2025-x", "province_admin")])
def test_weak_and_breached_passwords_are_refused(db, password, role):
    with pytest.raises(WeakPasswordError):
        create_user(db, "so_admin", password, role, school_id=1)
    db.rollback()


def test_good_passwords_pass_the_policy():
    check_policy("Mua-nuoc-song-Hau-2026", "province_admin", "so_admin")
    check_policy("Matkhau-2025!", "teacher", "gv1")
