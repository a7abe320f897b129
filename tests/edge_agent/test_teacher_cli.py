"""`edge-agent teacher add | pin | substitute`: the administrator's side of the kiosk accounts (two teachers, two
classes): 6-digit PINs only, every old PIN can be made to change at the next sign-in, substitutes are recorded."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from school_testkit import KEY, RULES, SCHOOL, TEACHER, TEACHER2, TZ, at, make_school
from typer.testing import CliRunner

from edge_agent.cli import app
from edge_agent.config import KioskConfig
from edge_agent.kiosk.app import KioskContext, create_kiosk_app
from edge_agent.store import school_db


@pytest.fixture()
def box(tmp_path):
    db = make_school(tmp_path)
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'school_code = "{SCHOOL}"\n[paths]\ndata_dir = "{tmp_path}"\ndatabase = "{db}"\n',
                   encoding="utf-8")
    return db, cfg


def sign_in(db, code, pin, peer):
    client = TestClient(create_kiosk_app(KioskContext(db, SCHOOL, KEY, RULES, KioskConfig(), TZ,
                                                      clock=lambda: at(7, 20))), client=(peer, 1))
    return client, client.post("/dang-nhap", data={"teacher_id": code, "pin": pin})


def test_add_a_teacher_with_a_six_digit_pin_only(box):
    db, cfg = box
    runner = CliRunner()
    r = runner.invoke(app, ["teacher", "add", "gv010", "Lê  Văn Cường", "-c", str(cfg), "--pin-stdin"], input="1234\n")
    assert r.exit_code == 2 and "Lỗi: Mã PIN phải gồm đúng 6 chữ số." in r.output
    conn = school_db.connect(db)
    assert conn.execute("SELECT count(*) FROM teachers WHERE id = 'GV010'").fetchone()[0] == 0, "nothing written"
    school_db.close(conn)
    r = runner.invoke(app, ["teacher", "add", "gv010", "Lê  Văn Cường", "-c", str(cfg), "--pin-stdin"],
                      input="482916\n")
    assert r.exit_code == 0 and "Lê Văn Cường (GV010)" in r.output, r.output
    _client, page = sign_in(db, "GV010", "482916", "10.0.0.1")
    assert page.status_code == 200 and "Lê Văn Cường" in page.text
    r = runner.invoke(app, ["teacher", "add", "GV010", "X", "-c", str(cfg), "--pin-stdin"], input="482917\n")
    assert r.exit_code == 1 and "đã có giáo viên mã GV010" in r.output


def test_old_pins_must_change_for_every_teacher(box):
    db, cfg = box
    r = CliRunner().invoke(app, ["teacher", "pin", "--must-change", "--all", "-c", str(cfg)])
    assert r.exit_code == 0 and "2 giáo viên phải đổi PIN" in r.output, r.output
    for n, teacher in enumerate((TEACHER, TEACHER2)):
        _client, page = sign_in(db, teacher[0], teacher[2], f"10.0.0.{n + 2}")
        assert page.url.path == "/doi-pin"
    r = CliRunner().invoke(app, ["teacher", "pin", TEACHER[0], "-c", str(cfg), "--pin-stdin"], input="111111\n")
    assert r.exit_code == 2 and "quá dễ đoán" in r.output
    r = CliRunner().invoke(app, ["teacher", "pin", TEACHER[0], "-c", str(cfg), "--pin-stdin"], input="703518\n")
    assert r.exit_code == 0
    _client, page = sign_in(db, TEACHER[0], "703518", "10.0.0.9")
    assert page.url.path == "/" and TEACHER[1] in page.text


def test_substitute_is_recorded_for_a_scheduled_lesson(box):
    db, cfg = box
    runner = CliRunner()
    r = runner.invoke(app, ["teacher", "substitute", "--class", "10A1", "--date", "08/09/2025", "--period", "3",
                            "--teacher", "GV003", "-c", str(cfg)])
    assert r.exit_code == 1 and "Thời khoá biểu không có tiết 3" in r.output
    r = runner.invoke(app, ["teacher", "substitute", "--class", "10a1", "--date", "08/09/2025", "--period", "1",
                            "--teacher", "gv003", "-c", str(cfg)])
    assert r.exit_code == 0, r.output
    client, page = sign_in(db, TEACHER2[0], TEACHER2[2], "10.0.0.1")
    conn = school_db.connect(db)
    lesson = conn.execute("SELECT id, substitute_teacher_id FROM lessons WHERE class_id = '10A1' AND period = 1 "
                          "AND session = 'morning'").fetchone()
    school_db.close(conn)
    assert lesson[1] == TEACHER2[0]
    assert client.get(f"/tiet/{lesson[0]}").status_code == 200, "the substitute may open the lesson"
