"""Names in Vietnamese class-list order on every page and export (core/names.py): the class page, its CSV and
Excel exports, the warnings list, the master-data API and the signature roster picker's class labels."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from openpyxl import load_workbook

from central_server.attendance.service import apply_event
from central_server.core.clock import local_today
from central_server.masterdata.tables import Student

# given name, then middle, then family, in Vietnamese collation: Python's order would put Trương before Trần
NAMES = ["Trương Văn An", "Trần Văn An", "Lê Thị Bình", "Đặng Ánh", "Lý Văn Dũng"]
EXPECTED = ["Trần Văn An", "Trương Văn An", "Đặng Ánh", "Lê Thị Bình", "Lý Văn Dũng"]


def _class_with_names(db, world):
    c1 = world["classes"][0]
    for s in list(db.query(Student).filter(Student.class_id == c1.id)):
        db.delete(s)
    db.flush()
    made = []
    for i, name in enumerate(NAMES):
        s = Student(personal_id=f"0942079{i:05d}", full_name=name, school_id=world["a"].id, class_id=c1.id)
        db.add(s)
        made.append(s)
    db.commit()
    return c1, made


def _in_order(text: str, names: list[str]) -> list[str]:
    return sorted(names, key=text.index)


def test_class_page_exports_and_api_use_vietnamese_order(world, db, settings, make_ev, client_for, bearer_for,
                                                           client):
    c1, made = _class_with_names(db, world)
    today = local_today()
    for s in made:  # every one of them absent 31 sessions: all on the warnings list with the same total
        for i in range(16):
            for sess in ("morning", "afternoon"):
                if i * 2 + (sess == "afternoon") < 31:
                    apply_event(db, make_ev("94000701", s.personal_id, today - dt.timedelta(days=i), None, "P",
                                            session=sess), settings)
    db.commit()
    admin = client_for(world["users"]["province_admin"])

    page = admin.get(f"/classes/{c1.id}").text
    assert _in_order(page, NAMES) == EXPECTED
    csv_text = admin.get(f"/api/attendance/classes/{c1.id}/export?format=csv").content.decode("utf-8-sig")
    assert [r[0] for r in csv.reader(io.StringIO(csv_text))][1:] == EXPECTED
    xlsx = admin.get(f"/api/attendance/classes/{c1.id}/export?format=xlsx").content
    sheet = load_workbook(io.BytesIO(xlsx)).active
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] in NAMES]
    assert names == EXPECTED
    warn = admin.get("/warnings").text
    assert _in_order(warn, NAMES) == EXPECTED
    warn_csv = admin.get("/api/attendance/warnings/export?format=csv").content.decode("utf-8-sig")
    assert [r[0] for r in csv.reader(io.StringIO(warn_csv)) if r and r[0] in NAMES] == EXPECTED

    api = client.get(f"/api/masterdata/classes/{c1.id}/students", headers=bearer_for(world["users"]["school_admin"]))
    assert [s["full_name"] for s in api.json()] == EXPECTED


def test_class_picker_shows_school_and_year_grouped_by_school(world, db, client_for):
    year = world["year"]
    page = client_for(world["users"]["province_admin"]).get("/signature/attendance").text
    labels = re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', page)
    assert f"10A1 · THPT Hoàng Diệu · {year}" in labels and f"11B1 · THPT Mỹ Xuyên · {year}" in labels
    # one group per school, schools in Vietnamese order, and a school chooser that filters the classes
    groups = re.findall(r'<optgroup label="([^"]+)" data-school="(\d+)"', page)
    assert [g[0] for g in groups] == ["THPT Hoàng Diệu", "THPT Mỹ Xuyên"]
    assert 'id="class-school"' in page
    # a school admin has one school: no chooser, only that school's classes
    page_b = client_for(world["users"]["school_admin_b"]).get("/signature/attendance").text
    assert 'id="class-school"' not in page_b
    assert re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', page_b) == [f"11B1 · THPT Mỹ Xuyên · {year}"]
