"""Law 91/2025 (T-5): a student who leaves a school — transferred out, withdrawn, graduated — must not stay in that
school's face index. Importing the MOET file that records it queues a signed erasure request for the school's edge
agent in the same transaction, audited; a school without an edge agent gets none."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from central_server.core.tables import AuditLog
from central_server.ingest.service import set_school_key
from central_server.ingest.tables import ControlOutbox
from central_server.masterdata.service import create_school
from edge_agent.protocol import ControlKind, decode_control
from tests.central_server.masterdata.moet_xlsx import moet_workbook

YEAR = "2025-2026"
HEAD = ["STT", "Họ tên (*)", "Ngày sinh", "Giới tính", "Mã lớp", "Trạng thái HS", "Số định danh cá nhân"]


def xlsx(rows) -> bytes:
    return moet_workbook(rows, HEAD, "C1-HocSinh", "DANH SÁCH HỌC SINH", 1)


def row(pid, name, klass="12A1", status="Đang học"):
    return [1, name, "05/09/2008", "Nữ", klass, status, pid]


@pytest.fixture()
def setup(db, make_user):
    a = create_school(db, "94000801", "THPT Lê Lợi")
    b = create_school(db, "94000802", "THPT Kế Sách")
    c = create_school(db, "94000803", "THPT An Ninh")  # no edge agent registered
    keys = {"94000801": os.urandom(32), "94000802": os.urandom(32)}
    for code, key in keys.items():
        set_school_key(db, code, key)
    db.commit()
    return (a, b, c), keys, make_user("so_admin_erase", "province_admin")


def import_file(client, h, school_id, data):
    r = client.post(f"/api/masterdata/schools/{school_id}/imports", headers=h, data={"school_year": YEAR},
                    files={"file": ("hs.xlsx", data, "application/octet-stream")})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h)
    assert r.status_code == 200, r.text
    return r.json()["summary"]


def erasures(db) -> list[tuple[str, str, str]]:
    db.expire_all()
    return [(r.school, r.kind, r.control) for r in db.scalars(select(ControlOutbox).order_by(ControlOutbox.id))]


def test_leaving_students_are_erased_at_their_school(client, db, setup, bearer_for):
    (a, b, c), keys, admin = setup
    h = bearer_for(admin)
    people = [("094208000001", "Lý Thị Hoa"), ("094208000002", "Thạch Sô Phia"), ("094208000003", "Trần Minh"),
              ("094208000004", "Danh Út")]
    assert import_file(client, h, a.id, xlsx([row(pid, n) for pid, n in people]))["erasures_requested"] == 0
    assert erasures(db) == []

    # the next export: one graduated, one withdrawn (typed without accents), one unchanged; one moved to B
    summary = import_file(client, h, a.id, xlsx([row("094208000001", "Lý Thị Hoa", status="Tốt nghiệp"),
                                                 row("094208000002", "Thạch Sô Phia", status="thoi hoc"),
                                                 row("094208000003", "Trần Minh")]))
    assert summary["erasures_requested"] == 2
    summary = import_file(client, h, b.id, xlsx([row("094208000004", "Danh Út", klass="12B2")]))
    assert summary["erasures_requested"] == 1 and summary["moved"] == 1

    got = erasures(db)
    assert [(school, kind) for school, kind, _ in got] == [("94000801", ControlKind.ERASURE_REQUEST.value)] * 3
    students = [decode_control(f"edu/v1/{school}/control", body.encode(), school, keys[school]).erasure.student_id
                for school, _, body in got]  # signed with school A's key: A's edge accepts them
    assert students == ["094208000001", "094208000002", "094208000004"]
    audits = db.scalars(select(AuditLog.target).where(AuditLog.action == "student.erasure_requested")).all()
    assert sorted(audits) == ["student:094208000001", "student:094208000002", "student:094208000004"]

    # importing the same file again asks for nothing new: they have already left
    again = import_file(client, h, a.id, xlsx([row("094208000001", "Lý Thị Hoa", status="Tốt nghiệp"),
                                               row("094208000002", "Thạch Sô Phia", status="Thôi học")]))
    assert again["erasures_requested"] == 0 and len(erasures(db)) == 3


def test_school_without_edge_agent_gets_no_request(client, db, setup, bearer_for):
    (_, _, c), _, admin = setup
    h = bearer_for(admin)
    import_file(client, h, c.id, xlsx([row("094208000009", "Kim Thị Sương")]))
    summary = import_file(client, h, c.id, xlsx([row("094208000009", "Kim Thị Sương", status="Chuyển đi")]))
    assert summary["erasures_requested"] == 0 and summary["erasures_no_edge"] == 1
    assert erasures(db) == []
