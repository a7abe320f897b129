"""Timetable and calendar import from real CSV/XLSX files, by header name; bad files change nothing."""

from __future__ import annotations

import unicodedata
from datetime import date, time

import pytest
from openpyxl import Workbook

from edge_agent.attendance.timetable import (
    MAX_PERIODS_PER_DAY,
    TimetableImportError,
    bell_schedule,
    import_calendar,
    import_timetable,
    is_school_day,
    save_bells,
    scheduled_on,
)
from edge_agent.config import BellConfig
from edge_agent.store import school_db

MONDAY = date(2025, 9, 8)


@pytest.fixture()
def conn(tmp_path):
    c = school_db.connect(tmp_path / "s.sqlite3")
    save_bells(c, bell_schedule(BellConfig()))
    yield c
    school_db.close(c)


def to_cp1258(text: str) -> bytes:
    """Encode as Vietnamese Windows does: base letters precomposed, tone marks as combining characters."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        tone = "".join(c for c in parts if c in tones)
        out.append(unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones)) + tone)
    return "".join(out).encode("cp1258")


def snapshot(conn):
    return conn.execute("SELECT * FROM timetable ORDER BY 1, 2, 3, 4").fetchall(), \
        conn.execute("SELECT id FROM classes ORDER BY id").fetchall()


def test_bell_schedule_has_45_minute_periods_in_two_sessions():
    periods = bell_schedule(BellConfig())
    assert {p.session for p in periods} == {"morning", "afternoon"}
    for p in periods:
        minutes = (p.end.hour * 60 + p.end.minute) - (p.start.hour * 60 + p.start.minute)
        assert minutes == 45
    morning = [p for p in periods if p.session == "morning"]
    assert (morning[0].start, morning[1].start, morning[2].start) == (time(7, 0), time(7, 50), time(8, 55))
    with pytest.raises(ValueError, match="afternoon"):
        bell_schedule(BellConfig(morning_start=time(9, 0), afternoon_start=time(11, 0)))


def test_csv_in_windows_1258_with_columns_in_any_order(conn, tmp_path):
    text = ("Phòng;Lớp;Thứ;Tiết;Buổi;Môn học;Giáo viên\n"
            "A101;10A1;Thứ 2;1;Sáng;Toán;GV001\n"
            "A101;10a1;Hai;2;sáng;Ngữ văn;GV002\n"
            "LAB1;10A1;CN;1;Chiều;Tin học;\n")
    path = tmp_path / "tkb.csv"
    path.write_bytes(to_cp1258(text))
    report = import_timetable(conn, path)
    assert report.rows == 3 and report.classes == ["10A1"] and report.classes_created == ["10A1"]
    slots = scheduled_on(conn, MONDAY, room="A101")
    assert [(s.period, s.subject, s.teacher_id, s.start) for s in slots] == [
        (1, "Toán", "GV001", time(7, 0)), (2, "Ngữ văn", "GV002", time(7, 50))]
    sunday = scheduled_on(conn, date(2025, 9, 14))
    assert [(s.session, s.subject, s.teacher_id) for s in sunday] == [("afternoon", "Tin học", None)]


def test_xlsx_with_utf8_headers(conn, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Lớp", "Thứ", "Buổi", "Tiết", "Môn", "Phòng", "Mã GV"])
    for period in range(1, 6):
        sheet.append(["10A2", 3, "Sáng", period, f"Môn {period}", "A102", f"GV00{period}"])
    sheet.append(["10A2", 3, "Chiều", 1, "Thể dục", "SAN", None])
    path = tmp_path / "tkb.xlsx"
    book.save(path)
    assert import_timetable(conn, path).rows == 6
    assert len(scheduled_on(conn, date(2025, 9, 9))) == 6


def test_bad_rows_are_all_reported_and_nothing_is_written(conn, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("Lớp,Thứ,Buổi,Tiết,Môn,Phòng\n10A1,2,Sáng,1,Toán,A101\n", encoding="utf-8")
    import_timetable(conn, good)
    before = snapshot(conn)
    bad = tmp_path / "bad.csv"
    bad.write_text("Lớp,Thứ,Buổi,Tiết,Môn,Phòng\n"
                   "10A1,2,Sáng,1,Toán,A101\n"          # row 2 fine
                   "10A1,Tám,Sáng,2,Văn,A101\n"         # row 3 bad weekday
                   "10A1,2,Tối,3,Văn,A101\n"            # row 4 bad session
                   "10A1,2,Sáng,9,Văn,A101\n"           # row 5 period out of range
                   "10A1,2,Sáng,1,Lý,A101\n"            # row 6 duplicate slot
                   "10A3,2,Sáng,1,Hoá,A101\n"           # row 7 room clash
                   "10A1,2,Sáng,4,,A101\n", encoding="utf-8")   # row 8 empty subject
    with pytest.raises(TimetableImportError) as err:
        import_timetable(conn, bad)
    text = str(err.value)
    for needle in ("row 3: weekday 'Tám'", "row 4: session 'Tối'", "row 5: period '9'", "row 6: class 10A1 already",
                   "row 7: room A101 is already used by class 10A1", "row 8: empty subject"):
        assert needle in text
    assert "row 2" not in text
    assert snapshot(conn) == before, "a refused file changes nothing"


def test_more_than_seven_periods_a_day_is_refused(conn, tmp_path):
    rows = ["Lớp,Thứ,Buổi,Tiết,Môn,Phòng"]
    rows += [f"10A1,4,Sáng,{p},M{p},A101" for p in range(1, 6)]
    rows += [f"10A1,4,Chiều,{p},C{p},A101" for p in range(1, 4)]
    path = tmp_path / "too_many.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(TimetableImportError, match=f"8 periods on weekday 4 \\(at most {MAX_PERIODS_PER_DAY}"):
        import_timetable(conn, path)
    assert snapshot(conn) == ([], [])


def test_missing_column_and_unreadable_files(conn, tmp_path):
    book = Workbook()
    book.active.append(["Lớp", "Thứ", "Tiết", "Môn"])
    book.active.append(["10A1", 2, 1, "Toán"])
    path = tmp_path / "thieu_cot.xlsx"
    book.save(path)
    with pytest.raises(TimetableImportError, match="thiếu cột 'Buổi', 'Phòng'"):
        import_timetable(conn, path)
    broken = tmp_path / "hong.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(TimetableImportError, match="không đọc được sổ tính .xlsx"):
        import_timetable(conn, broken)
    with pytest.raises(TimetableImportError, match="không đọc được loại tệp '.pdf'"):
        import_timetable(conn, tmp_path / "x.pdf" if (tmp_path / "x.pdf").write_text("a") else None)
    assert snapshot(conn) == ([], [])


def test_calendar_terms_and_holidays(conn, tmp_path):
    path = tmp_path / "lich.csv"
    path.write_text("Loại,Tên,Từ ngày,Đến ngày\n"
                    "Học kỳ,Học kỳ I,05/09/2025,17/01/2026\n"
                    "Học kỳ,Học kỳ II,2026-01-19,2026-05-25\n"
                    "Nghỉ,Quốc khánh (bù),01/09/2025,02/09/2025\n"
                    "Nghỉ,Tết Nguyên đán,09/02/2026,20/02/2026\n", encoding="utf-8")
    report = import_calendar(conn, path)
    assert (report.terms, report.holidays) == (2, 14)
    assert is_school_day(conn, MONDAY)
    assert not is_school_day(conn, date(2026, 2, 12))          # Tết
    assert not is_school_day(conn, date(2025, 8, 25))          # before the year opens
    assert not is_school_day(conn, date(2026, 1, 18))          # between the terms
    bad = tmp_path / "lich_sai.csv"
    bad.write_text("Loại,Tên,Từ ngày,Đến ngày\nHọc kỳ,HK I,31/02/2025,\nNghỉ,X,10/10/2025,01/10/2025\n",
                   encoding="utf-8")
    with pytest.raises(TimetableImportError) as err:
        import_calendar(conn, bad)
    assert "row 2: date '31/02/2025' not understood" in str(err.value)
    assert "row 3: end date 01/10/2025 is before start date 10/10/2025" in str(err.value)
    assert is_school_day(conn, MONDAY) and not is_school_day(conn, date(2026, 2, 12)), "old calendar kept"
