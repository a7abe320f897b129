"""The audit log page shows the province's local time (Asia/Ho_Chi_Minh) and Vietnamese action names."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlalchemy import select

from central_server.core.audit_labels import ACTIONS, MODULES, action_label
from central_server.core.tables import AuditLog

ROOT = Path(__file__).resolve().parents[3] / "central_server"


def test_audit_page_in_local_time_with_vietnamese_actions(db, make_user, client_for, client):
    admin = make_user("so_admin", "province_admin")
    make_user("cb_so", "province_staff")
    client.post("/login", data={"username": "cb_so", "password": "sai-mat-khau"})  # a refused sign-in
    page_client = client_for(admin)
    # a row written late in the UTC evening: already the next day in Vietnam
    late = AuditLog(at=dt.datetime(2026, 3, 9, 18, 30, 5, tzinfo=dt.UTC), actor_name="gv_a", actor_role="teacher",
                    action="attendance.export", target="class:1", detail={}, ip="10.0.0.1", outcome="ok")
    db.add(late)
    db.commit()
    html = page_client.get("/admin/audit").text
    row = re.search(r'<tr data-action="attendance.export">.*?</tr>', html, re.S).group(0)
    assert "10/03/2026 01:30:05" in row and "09/03/2026 18:30" not in row
    assert "Xuất báo cáo chuyên cần" in row and "Giáo viên" in row and "Thành công" in row
    assert "Asia/Ho_Chi_Minh" in html and "UTC)" not in html
    refused = re.search(r'<tr data-action="auth.login">.*?Bị từ chối.*?</tr>', html, re.S)
    assert refused and "Đăng nhập" in refused.group(0)
    # every other row's time is its stored UTC time + 7 h
    for r in db.scalars(select(AuditLog).where(AuditLog.action == "auth.login")):
        local = (r.at.astimezone(dt.UTC) + dt.timedelta(hours=7)).strftime("%d/%m/%Y %H:%M:%S")
        assert local in html


def test_every_audited_action_in_the_code_has_a_vietnamese_name():
    pattern = re.compile(r'(?:audit|_log)\(\s*[^,()]+,\s*[^,()]+,\s*f?"([a-z_]+\.[a-z_.{}]+)"', re.S)
    found = set()
    for path in ROOT.rglob("*.py"):
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    assert len(found) > 30, found
    missing = sorted(code for code in found if "{" not in code and code not in ACTIONS)
    assert missing == []
    assert action_label("library.item.publish") == "Xuất bản học liệu"
    assert action_label("ioc.something_new") == f"{MODULES['ioc']}: ioc.something_new"
