"""Every attendance export answers for any valid class code (`10Văn`, `10/A2`, Excel-forbidden characters):
an RFC 5987 `filename*` with an ASCII fallback (headers are Latin-1), and a valid Excel sheet title."""

from __future__ import annotations

import datetime as dt
import io
import re
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from central_server.attendance import exports
from central_server.attendance.service import apply_event
from central_server.core.clock import local_today
from central_server.core.downloads import attachment
from central_server.masterdata.tables import SchoolClass, Student

# valid class codes (up to 32 characters); the last makes a sheet title over Excel's 31
CODES = ["10Văn", "10/A2", "11 Anh[1]", "12:Toán*?", "10\\Lý", "'10Hóa'", "Chuyên Ngữ văn K2025-2028 (ĐB)"]


def filename_of(header: str) -> str:
    """What a browser saves: filename* when present (RFC 6266 prefers it), else filename."""
    header.encode("latin-1")  # a header that is not Latin-1 cannot be sent at all
    star = re.search(r"filename\*=UTF-8''([^;]+)", header)
    if star:
        return unquote(star.group(1), encoding="utf-8", errors="strict")
    return re.search(r'filename="([^"]*)"', header).group(1)


@pytest.fixture()
def coded(world, db, settings, make_ev):
    """One class per awkward code in school A, each with a student 31 sessions absent (on the warnings list)."""
    a, year = world["a"], world["year"]
    classes = []
    for n, code in enumerate(CODES):
        klass = SchoolClass(school_id=a.id, school_year=year, code=code, grade=10)
        db.add(klass)
        db.flush()
        student = Student(personal_id=f"0942071{n:05d}", full_name=f"Học Sinh Mã {n}", school_id=a.id,
                          class_id=klass.id, gender="Nữ")
        db.add(student)
        db.flush()
        for i in range(31):
            apply_event(db, make_ev(a.code, student.personal_id, local_today() - dt.timedelta(days=i), None, "K",
                                    session="morning", class_code=code), settings)
        classes.append(klass)
    db.commit()
    return classes


def test_every_export_route_answers_for_any_class_code(world, coded, client, bearer_for):
    h = bearer_for(world["users"]["school_admin"])
    a = world["a"]
    for fmt in ("csv", "xlsx"):
        for klass in coded:
            r = client.get(f"/api/attendance/classes/{klass.id}/export?format={fmt}", headers=h)
            assert r.status_code == 200, (klass.code, fmt, r.text[:200])
            name = filename_of(r.headers["content-disposition"])
            assert name.startswith("chuyen-can-lop-") and name.endswith(f"-CN.{fmt}") and "/" not in name
            assert ascii_only(r.headers["content-disposition"])
            if fmt == "xlsx":
                wb = load_workbook(io.BytesIO(r.content))
                assert wb.active.title == exports.sheet_title(f"Lop {klass.code} CN")
                assert any(row[2] == klass.code for row in wb.active.iter_rows(values_only=True))
            else:
                assert klass.code in r.content.decode("utf-8-sig")
        assert filename_of(client.get(f"/api/attendance/classes/{coded[0].id}/export?format={fmt}", headers=h)
                           .headers["content-disposition"]) == f"chuyen-can-lop-10Văn-CN.{fmt}"
        for url in (f"/api/attendance/schools/{a.id}/export?format={fmt}",
                    f"/api/attendance/warnings/export?format={fmt}"):
            r = client.get(url, headers=h)
            assert r.status_code == 200, (url, r.text[:200])
            codes = {c.code for c in coded}
            if fmt == "xlsx":
                cells = {v for row in load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True)
                         for v in row}
            else:
                cells = set(re.split(r"[,\r\n]", r.content.decode("utf-8-sig")))
            assert codes <= cells, (url, codes - cells)


def ascii_only(header: str) -> bool:
    return all(ord(c) < 128 for c in header)


@given(st.text(min_size=1, max_size=80))
def test_attachment_header_for_any_name(name):
    header = attachment(name)
    assert ascii_only(header)
    saved = filename_of(header)
    assert saved and not set(saved) & set('/\\:*?"<>|') and all(ord(c) >= 32 for c in saved)


@given(st.text(max_size=60))
def test_sheet_title_is_always_accepted_by_excel_rules(title):
    from openpyxl import Workbook

    ws = Workbook().active
    ws.title = exports.sheet_title(title)  # openpyxl raises on a title Excel refuses
    assert 1 <= len(ws.title) <= 31
