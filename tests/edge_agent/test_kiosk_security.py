"""The kiosk's threat model (issue 15 item 6), with two teachers and two classes: GV001 teaches 10A1, GV003 10A2.

A teacher sees and changes only their own lessons (or those they substitute), the sign-in page names nobody,
wrong PINs are throttled per client as well as per teacher, PINs are 6 digits (old ones must be changed), and the
server binds one configured interface with TLS."""

from __future__ import annotations

import base64
import hashlib
import os
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from school_testkit import KEY, RULES, SCHOOL, STUDENTS, TEACHER, TEACHER2, TZ, at, make_school

from edge_agent.attendance.lessons import NotYourLesson
from edge_agent.attendance.proposals import AttendanceEngine, Recognition
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.config import KioskConfig
from edge_agent.kiosk.app import KioskContext, create_kiosk_app
from edge_agent.kiosk.pins import PinError, hash_pin, require_pin_change, set_pin
from edge_agent.store import school_db

BICH, CUONG, DUYEN, PHIA = list(STUDENTS)


@pytest.fixture()
def school(tmp_path):
    db = make_school(tmp_path)
    conn = school_db.connect(db)
    engine = AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ, device_id="edge")
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 1), "accept", BICH, 0.74, "t1"))
    engine.record(Recognition("cam-a102", "classroom", "A102", at(7, 2), "review", PHIA, 0.41, "t2"))
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 3), "review", DUYEN, 0.40, "t3"))
    engine.tick(at(7, 20))
    school_db.close(conn)
    return db


def lesson_of(db, class_id: str) -> int:
    conn = school_db.connect(db)
    try:
        return conn.execute("SELECT id FROM lessons WHERE class_id = ? AND period = 1 AND session = 'morning'",
                            (class_id,)).fetchone()[0]
    finally:
        school_db.close(conn)


def review_of(db, class_id: str) -> int:
    conn = school_db.connect(db)
    try:
        return conn.execute("SELECT q.id FROM review_queue q JOIN lessons l ON l.id = q.lesson_id "
                            "WHERE l.class_id = ?", (class_id,)).fetchone()[0]
    finally:
        school_db.close(conn)


def kiosk(db, clock=lambda: at(7, 20), peer=("10.0.0.1", 50000), **cfg):
    ctx = KioskContext(db, SCHOOL, KEY, RULES, KioskConfig(**cfg), TZ, clock=clock)
    return TestClient(create_kiosk_app(ctx), client=peer)


def signed_in(client: TestClient, teacher) -> str:
    r = client.post("/dang-nhap", data={"teacher_id": teacher[0], "pin": teacher[2]})
    assert r.status_code == 200 and teacher[1] in r.text, r.text[-600:]
    return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)


def count(db, sql, args=()):
    conn = school_db.connect(db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        school_db.close(conn)


@pytest.mark.parametrize(("me", "mine", "theirs", "my_student", "their_student"),
                         [(TEACHER, "10A1", "10A2", BICH, PHIA), (TEACHER2, "10A2", "10A1", PHIA, BICH)])
def test_a_teacher_acts_only_on_own_lessons(school, me, mine, theirs, my_student, their_student):
    client = kiosk(school)
    csrf = signed_in(client, me)
    own, other = lesson_of(school, mine), lesson_of(school, theirs)
    home = client.get("/?tat-ca=1").text
    assert f'href="/tiet/{own}"' in home and f'href="/tiet/{other}"' not in home, "only own lessons are listed"
    assert client.get(f"/tiet/{own}").status_code == 200
    r = client.get(f"/tiet/{other}")
    assert r.status_code == 403 and "không phải của thầy/cô" in r.text
    assert not any(STUDENTS[s][0] in r.text for s in STUDENTS if STUDENTS[s][1] == theirs), "no names leak"
    events_before = count(school, "SELECT count(*) FROM outbox")
    assert client.post(f"/tiet/{other}/sua", data={"student_id": their_student, "mark": "K", "csrf": csrf}
                       ).status_code == 403
    assert client.post(f"/tiet/{other}/chot", data={"csrf": csrf, "confirm": "1"}).status_code == 403
    assert client.post(f"/tiet/{other}/chot", data={"csrf": csrf}).status_code == 403
    their_review = review_of(school, theirs)
    assert client.post(f"/xem-xet/{their_review}", data={"lesson_id": own, "action": "khong-phai-hoc-sinh",
                                                         "csrf": csrf}).status_code == 403
    assert client.get(f"/xem-xet/{their_review}/anh").status_code == 403
    assert client.get(f"/anh/hoc-sinh/{their_student}").status_code == 403
    assert client.get(f"/anh/hoc-sinh/{my_student}").status_code == 404, "own student: allowed (no photo here)"
    assert count(school, "SELECT count(*) FROM outbox") == events_before, "nothing was written"
    assert count(school, "SELECT count(*) FROM marks WHERE lesson_id = ? AND (mark IS NOT NULL OR final IS NOT "
                 "NULL)", (other,)) == 0
    assert count(school, "SELECT count(*) FROM review_queue WHERE id = ? AND state = 'pending'", (their_review,)) == 1
    # the same rule holds below the web layer
    conn = school_db.connect(school)
    desk = TeacherDesk(conn, RULES, SCHOOL, KEY, TZ)
    with pytest.raises(NotYourLesson):
        desk.correct(other, their_student, "K", me[0], now=at(7, 21))
    with pytest.raises(NotYourLesson):
        desk.finalise(other, me[0], now=at(7, 21))
    school_db.close(conn)
    # own lesson: allowed
    r = client.post(f"/tiet/{own}/sua", data={"student_id": my_student, "mark": "late", "csrf": csrf})
    assert r.status_code == 200 and "Đã lưu thay đổi." in r.text


def test_a_named_substitute_may_act_and_nobody_else(school):
    a10, conn = lesson_of(school, "10A1"), school_db.connect(school)
    TeacherDesk(conn, RULES, SCHOOL, KEY, TZ).assign_substitute(a10, TEACHER2[0], actor="admin")
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'lesson.substitute'").fetchone()[0] == 1
    school_db.close(conn)
    sub = kiosk(school)
    csrf = signed_in(sub, TEACHER2)
    assert f'href="/tiet/{a10}"' in sub.get("/?tat-ca=1").text
    r = sub.post(f"/tiet/{a10}/sua", data={"student_id": CUONG, "mark": "P", "csrf": csrf})
    assert r.status_code == 200 and "Đã lưu thay đổi." in r.text
    assert count(school, "SELECT marked_by FROM marks WHERE lesson_id = ? AND student_id = ?", (a10, CUONG)) \
        == TEACHER2[0]
    own = kiosk(school, peer=("10.0.0.2", 50000))
    csrf1 = signed_in(own, TEACHER)
    r = own.post(f"/tiet/{a10}/sua", data={"student_id": DUYEN, "mark": "K", "csrf": csrf1})
    assert r.status_code == 200, "the lesson's own teacher keeps the right"


def test_sign_in_page_lists_no_teacher_and_takes_a_typed_code(school):
    client = kiosk(school)
    page = client.get("/dang-nhap").text
    for code, name, _pin in (TEACHER, TEACHER2):
        assert code not in page and name not in page
    assert 'name="teacher_id"' in page and "<select" not in page
    r = client.post("/dang-nhap", data={"teacher_id": TEACHER2[0].lower(), "pin": TEACHER2[2]})
    assert r.status_code == 200 and TEACHER2[1] in r.text and TEACHER2[0] not in r.text.split("</header>")[0], \
        "the page shows the teacher's name, not the code"
    r = kiosk(school).post("/dang-nhap", data={"teacher_id": "GV999", "pin": "975310"})
    r2 = kiosk(school, peer=("10.0.0.7", 1)).post("/dang-nhap", data={"teacher_id": TEACHER[0], "pin": "975310"})
    assert r.status_code == r2.status_code == 401
    assert "không đúng" in r.text and "không đúng" in r2.text


def test_per_client_throttling_besides_the_teacher_lockout(school):
    cfg = {"pin_max_failures": 3, "client_max_failures": 4, "client_window_minutes": 15, "lockout_minutes": 10}
    attacker = kiosk(school, peer=("10.0.0.66", 1), **cfg)
    for code in (TEACHER[0], TEACHER2[0], TEACHER[0]):
        assert attacker.post("/dang-nhap", data={"teacher_id": code, "pin": "000001"}).status_code == 401
    r = attacker.post("/dang-nhap", data={"teacher_id": TEACHER2[0], "pin": "000001"})
    assert r.status_code == 401
    # four wrong tries from one client, at most two per teacher: no teacher is locked, the client is
    r = attacker.post("/dang-nhap", data={"teacher_id": TEACHER[0], "pin": TEACHER[2]})
    assert r.status_code == 429 and "Máy này đã nhập sai quá nhiều lần" in r.text, "even a right PIN is refused"
    assert count(school, "SELECT count(*) FROM teachers WHERE locked_until IS NOT NULL") == 0
    assert count(school, "SELECT count(*) FROM audit_log WHERE action = 'kiosk.client_locked'") == 1
    for teacher, peer in ((TEACHER, "10.0.0.8"), (TEACHER2, "10.0.0.9")):
        signed_in(kiosk(school, peer=(peer, 1), **cfg), teacher)
    # unknown codes count as well (no list of codes to harvest, no free guesses)
    prober = kiosk(school, peer=("10.0.0.77", 1), **cfg)
    for n in range(4):
        assert prober.post("/dang-nhap", data={"teacher_id": f"GV9{n:02d}", "pin": "000001"}).status_code == 401
    assert prober.post("/dang-nhap", data={"teacher_id": TEACHER2[0], "pin": TEACHER2[2]}).status_code == 429
    # later than the lockout: the client may try again
    later = kiosk(school, clock=lambda: at(7, 31), peer=("10.0.0.66", 1), **cfg)
    signed_in(later, TEACHER)


def _legacy_hash(pin: str) -> str:
    """A PIN hash as the kiosk stored them before 6 digits were required (same scheme, 4 digits)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_pins_are_six_digits_and_old_ones_must_change(school):
    for bad in ("1234", "12345", "1234567", "12a456", "123456", "111111"):
        with pytest.raises(PinError):
            hash_pin(bad)
    conn = school_db.connect(school)
    conn.execute("UPDATE teachers SET pin_hash = ? WHERE id = ?", (_legacy_hash("1357"), TEACHER[0]))
    school_db.close(conn)
    client = kiosk(school)
    r = client.post("/dang-nhap", data={"teacher_id": TEACHER[0], "pin": "1357"})
    assert r.status_code == 200 and r.url.path == "/doi-pin" and "cần đúng 6 chữ số" in r.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    assert client.get(f"/tiet/{lesson_of(school, '10A1')}").url.path == "/doi-pin", "nothing else before a new PIN"
    r = client.post("/doi-pin", data={"new_pin": "13579", "new_pin2": "13579", "csrf": csrf})
    assert r.status_code == 400 and "đúng 6 chữ số" in r.text
    r = client.post("/doi-pin", data={"new_pin": "135792", "new_pin2": "135799", "csrf": csrf})
    assert r.status_code == 400 and "không giống nhau" in r.text
    assert client.post("/doi-pin", data={"new_pin": "135792", "new_pin2": "135792", "csrf": "x"}).status_code == 403
    r = client.post("/doi-pin", data={"new_pin": "135792", "new_pin2": "135792", "csrf": csrf})
    assert r.status_code == 200 and "Đã đổi mã PIN." in r.text and r.url.path == "/"
    assert kiosk(school, peer=("10.0.0.3", 1)).post(
        "/dang-nhap", data={"teacher_id": TEACHER[0], "pin": "1357"}).status_code == 401, "the old PIN is gone"
    signed_in(kiosk(school, peer=("10.0.0.4", 1)), (TEACHER[0], TEACHER[1], "135792"))
    # the admin command's way: the other teacher must choose a new PIN at the next sign-in
    conn = school_db.connect(school)
    require_pin_change(conn, TEACHER2[0], actor="admin")
    with pytest.raises(PinError):
        set_pin(conn, TEACHER2[0], "4321", actor="admin")
    school_db.close(conn)
    r = kiosk(school, peer=("10.0.0.5", 1)).post("/dang-nhap", data={"teacher_id": TEACHER2[0], "pin": TEACHER2[2]})
    assert r.url.path == "/doi-pin"
    assert count(school, "SELECT count(*) FROM audit_log WHERE action IN ('kiosk.pin_set', 'kiosk.pin_must_change')"
                 ) == 2


def test_kiosk_binds_one_interface_and_requires_tls_off_loopback(tmp_path):
    assert KioskConfig().host == "127.0.0.1", "loopback by default, never every interface"
    with pytest.raises(ValidationError, match="not every interface"):
        KioskConfig(host="0.0.0.0")
    with pytest.raises(ValidationError, match="ssl_certfile"):
        KioskConfig(host="192.168.10.5")
    with pytest.raises(ValidationError, match="go together"):
        KioskConfig(host="192.168.10.5", ssl_certfile=tmp_path / "c.pem")
    assert KioskConfig(host="192.168.10.5", ssl_certfile=tmp_path / "c", ssl_keyfile=tmp_path / "k").tls
    assert not KioskConfig(host="127.0.0.1", behind_proxy=True, trusted_proxies=["127.0.0.1"]).tls


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 (the school would use its own CA's); returns (cert, key) paths."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiosk.thpt-ldt.local")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "kiosk.crt", tmp_path / "kiosk.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_kiosk_serves_tls_on_the_configured_interface(school, tmp_path):
    """The real server as the service starts it: HTTPS only, on the configured address, Secure session cookies;
    both teachers sign in over it and each sees only their own class."""
    import ssl
    import threading
    import time

    import httpx
    from kiosk_browser import free_port

    from edge_agent.kiosk.serve import kiosk_server

    cert, key = _self_signed(tmp_path)
    cfg = KioskConfig(host="127.0.0.1", port=free_port(), ssl_certfile=cert, ssl_keyfile=key)
    ctx = KioskContext(school, SCHOOL, KEY, RULES, cfg, TZ, clock=lambda: at(7, 20))
    server = kiosk_server(create_kiosk_app(ctx), cfg)
    server.install_signal_handlers = lambda: None
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "kiosk server did not start"
        time.sleep(0.05)
    try:
        base = f"https://127.0.0.1:{cfg.port}"
        bound = {sock.getsockname()[0] for srv in server.servers for sock in srv.sockets}
        assert bound == {"127.0.0.1"}, f"bound to {bound}"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{cfg.port}/healthz", timeout=5)        # no plain HTTP
        with pytest.raises(httpx.ConnectError):
            httpx.get(base + "/healthz", timeout=5)                            # untrusted certificate refused
        for teacher, mine, theirs in ((TEACHER, "10A1", "10A2"), (TEACHER2, "10A2", "10A1")):
            with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(cert)),
                              timeout=10) as client:
                r = client.post("/dang-nhap", data={"teacher_id": teacher[0], "pin": teacher[2]})
                assert r.status_code == 303
                assert "secure" in r.headers["set-cookie"].lower() and "httponly" in r.headers["set-cookie"].lower()
                assert client.get(f"/tiet/{lesson_of(school, mine)}").status_code == 200
                assert client.get(f"/tiet/{lesson_of(school, theirs)}").status_code == 403
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("trusted", [True, False])
def test_client_throttling_trusts_forwarded_for_only_from_a_configured_proxy(school, trusted):
    """Behind the documented reverse proxy the phone's address (X-Forwarded-For) is the client; without a trusted
    proxy, rotating X-Forwarded-For does not escape the per-client limit."""
    import threading
    import time

    import httpx
    from kiosk_browser import free_port

    from edge_agent.kiosk.serve import kiosk_server

    cfg = KioskConfig(port=free_port(), client_max_failures=3, pin_max_failures=5, behind_proxy=trusted,
                      trusted_proxies=["127.0.0.1"] if trusted else [])
    server = kiosk_server(create_kiosk_app(KioskContext(school, SCHOOL, KEY, RULES, cfg, TZ,
                                                        clock=lambda: at(7, 20))), cfg)
    server.install_signal_handlers = lambda: None
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "kiosk server did not start"
        time.sleep(0.05)
    try:
        base = f"http://127.0.0.1:{cfg.port}"
        for n, teacher in enumerate((TEACHER, TEACHER2, TEACHER)):
            r = httpx.post(base + "/dang-nhap", data={"teacher_id": teacher[0], "pin": "000001"},
                           headers={"X-Forwarded-For": "10.1.1.1" if trusted else f"10.9.9.{n}"})
            assert r.status_code == 401
        other = httpx.post(base + "/dang-nhap", data={"teacher_id": TEACHER2[0], "pin": TEACHER2[2]},
                           headers={"X-Forwarded-For": "10.1.1.2" if trusted else "10.9.9.200"})
        if trusted:
            assert other.status_code == 303, "another phone behind the proxy is not locked out"
        else:
            assert other.status_code == 429, "a made-up X-Forwarded-For does not make a new client"
        again = httpx.post(base + "/dang-nhap", data={"teacher_id": TEACHER2[0], "pin": TEACHER2[2]},
                           headers={"X-Forwarded-For": "10.1.1.1"})
        assert again.status_code == 429
    finally:
        server.should_exit = True
        thread.join(timeout=10)
