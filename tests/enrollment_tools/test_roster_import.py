"""`enroll roster import` on a realistic MOET-style xlsx and CSVs: preview, apply, moves, departures, bad input."""

from __future__ import annotations

from datetime import datetime

from openpyxl import Workbook

from tests.enrollment_tools.conftest import lfw, put, to_cp1258

HEADER = ["STT", "Mã học sinh", "Họ và tên", "Ngày sinh", "Giới tính", "Dân tộc", "Mã lớp", "Trạng thái HS",
          "Số định danh cá nhân", "Họ tên cha"]


def xlsx(path, rows, header=HEADER):
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def moet_rows(n=40):
    rows = []
    for i in range(1, n + 1):
        cls = "10A1" if i <= n // 2 else "10A2"
        dob = datetime(2009, (i % 12) + 1, (i % 27) + 1)   # a real Excel date cell
        rows.append([i, f"HS{i:05d}", f"Nguyễn Văn {chr(64 + (i % 26) + 1)}", dob, "Nam" if i % 2 else "Nữ",
                     "Kinh" if i % 5 else "Khmer", cls, "Đang học", f"0942090{i:05d}", "Nguyễn Văn Cha"])
    return rows


def test_preview_then_apply_a_moet_xlsx(school, tmp_path):
    path = xlsx(tmp_path / "C1-HocSinh.xlsx", moet_rows())
    before = school.dump()
    _, preview = school.run("roster", "import", str(path), "--school", school.code)
    assert preview["applied"] is False and len(preview["new"]) == 40 and preview["invalid"] == []
    assert preview["new_classes"] == ["10A1", "10A2"]
    assert school.dump() == before                                     # a preview writes nothing
    _, applied = school.run("roster", "import", str(path), "--school", school.code, "--apply")
    assert applied["applied"] is True
    with school.db() as conn:
        assert conn.execute("SELECT count(*) FROM students").fetchone()[0] == 40
        r = conn.execute("SELECT * FROM students WHERE id = '094209000001'").fetchone()
        assert (r["full_name"], r["date_of_birth"], r["class_id"], r["gender"]) == ("Nguyễn Văn B", "2009-02-02",
                                                                                      "10A1", "nam")
        assert conn.execute("SELECT grade FROM classes WHERE id = '10A2'").fetchone()[0] == 10
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'roster.import'").fetchone()[0] == 1
    # the next export: one student moves class, one is renamed, one transfers out, one is new, rest unchanged
    rows = moet_rows()
    rows[0][6] = "10A2"
    rows[1][2] = "Nguyễn Văn Bê"
    rows[2][7] = "Chuyển đi"
    rows.append([41, "HS00041", "Thạch Sô Phia", datetime(2009, 8, 20), "Nữ", "Khmer", "10A3", "Đang học",
                 "094209000041", ""])
    _, preview = school.run("roster", "import", str(xlsx(tmp_path / "v2.xlsx", rows)), "--school", school.code)
    assert preview["new"] == ["094209000041"] and preview["unchanged"] == 37
    assert preview["moved"] == [{"id": "094209000001", "from": "10A1", "to": "10A2"}]
    assert {u["id"] for u in preview["updated"]} == {"094209000001", "094209000002", "094209000003"}
    school.run("roster", "import", str(tmp_path / "v2.xlsx"), "--school", school.code, "--apply")
    with school.db() as conn:
        assert conn.execute("SELECT status FROM students WHERE id = '094209000003'").fetchone()[0] == "transferred"
        assert conn.execute("SELECT class_id FROM students WHERE id = '094209000001'").fetchone()[0] == "10A2"


def test_departure_erases_biometrics(school, datasets, calibrated, tmp_path):
    school.add_students()
    put(tmp_path / "p" / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2))
    school.run("photos", str(tmp_path / "p"), "--school", school.code, "--workers", "1")
    assert school.templates("094209000101") == 2
    (tmp_path / "r.csv").write_text("Mã định danh,Họ và tên,Ngày sinh,Lớp,Trạng thái HS\n"
                                    "094209000101,Lâm Thị Bích,12/05/2009,10A1,Đã tốt nghiệp\n", encoding="utf-8")
    _, preview = school.run("roster", "import", str(tmp_path / "r.csv"), "--school", school.code)
    assert preview["erase_biometrics"] == ["094209000101"] and school.templates("094209000101") == 2
    _, out = school.run("roster", "import", str(tmp_path / "r.csv"), "--school", school.code, "--apply")
    assert out["erased"] == ["094209000101"] and school.templates("094209000101") == 0


def test_bad_rows_name_the_row_and_write_nothing(school, tmp_path):
    school.add_students()
    before = school.dump()
    rows = moet_rows(6)
    rows[1][8] = "9420900"                    # too short
    rows[2][3] = "31/02/2009"                 # no such date
    rows[3][8] = rows[4][8]                   # the same id twice (rows 5 and 6)
    rows[0][4] = "??"                         # unknown gender
    path = xlsx(tmp_path / "bad.xlsx", rows)
    code, out = school.run("roster", "import", str(path), "--school", school.code, "--apply", ok=False)
    assert code == 1 and "bad.xlsx" in out["error"] and "dòng 2" in out["error"]
    reasons = {b["row"]: " ".join(b["reasons"]) for b in out["invalid"]}
    assert "giới tính" in reasons[2] and "12 chữ số" in reasons[3] and "không tồn tại" in reasons[4]
    assert "trùng" in reasons[5] and "trùng" in reasons[6]
    assert school.dump() == before
    # --skip-invalid writes only the valid row (row 7)
    code, out = school.run("roster", "import", str(path), "--school", school.code, "--apply", "--skip-invalid")
    assert out["new"] == ["094209000006"] and len(out["invalid"]) == 5


def test_missing_columns_and_encodings(school, tmp_path):
    before = school.dump()
    path = xlsx(tmp_path / "thieu.xlsx", [[1, "Nguyễn Văn A", "10A1"]], header=["STT", "Họ và tên", "Lớp"])
    code, out = school.run("roster", "import", str(path), "--school", school.code, "--apply", ok=False)
    # the columns are named by their Vietnamese labels, never by the internal field names
    assert code == 1 and "thieu.xlsx" in out["error"] and "'Mã định danh'" in out["error"]
    assert "'Ngày sinh'" in out["error"] and "thiếu cột" in out["error"]
    assert "student_id" not in out["error"] and "date_of_birth" not in out["error"]
    (tmp_path / "x.xlsx").write_bytes(b"this is not a workbook")
    code, out = school.run("roster", "import", str(tmp_path / "x.xlsx"), "--school", school.code, ok=False)
    assert code == 1 and "x.xlsx" in out["error"]
    assert school.dump() == before
    text = ("Số định danh cá nhân;Họ và tên;Ngày sinh;Lớp;Giới tính\n"
            "094209000201;Trần Thị Ánh Tuyết;05/06/2009;10A3;Nữ\n")
    (tmp_path / "w1258.csv").write_bytes(to_cp1258(text))
    (tmp_path / "bom.csv").write_bytes(text.replace("0201", "0202").encode("utf-8-sig"))
    for name in ("w1258.csv", "bom.csv"):
        school.run("roster", "import", str(tmp_path / name), "--school", school.code, "--apply")
    with school.db() as conn:
        names = [r[0] for r in conn.execute("SELECT full_name FROM students ORDER BY id")]
    assert names == ["Trần Thị Ánh Tuyết", "Trần Thị Ánh Tuyết"]


def test_xlsx_with_a_title_row_above_the_header(school, tmp_path):
    """MOET exports put a title (and blank cells) above the header: it used to crash (TypeError on None)."""
    wb = Workbook()
    ws = wb.active
    ws.append(["DANH SÁCH HỌC SINH NĂM HỌC 2025-2026", None, None])
    ws.append([None, None, None])
    ws.append(HEADER)
    for r in moet_rows(4):
        ws.append(r)
    wb.save(tmp_path / "tieu_de.xlsx")
    _, out = school.run("roster", "import", str(tmp_path / "tieu_de.xlsx"), "--school", school.code, "--apply")
    assert len(out["new"]) == 4 and out["invalid"] == []
    with school.db() as conn:
        assert conn.execute("SELECT count(*) FROM students").fetchone()[0] == 4


def test_excel_unicode_text_is_read(school, tmp_path):
    """Excel's "Unicode text": UTF-16 with a BOM, tab-separated, often with a title line, saved as .txt or .csv."""
    text = ("Danh sách lớp 10A3\n"
            "Số định danh cá nhân\tHọ và tên\tNgày sinh\tLớp\tGiới tính\n"
            "094209000301\tThạch Thị Sa Rết\t05/06/2009\t10A3\tNữ\n"
            "094209000302\tLâm, Văn Đức\t07/08/2009\t10A3\tNam\n")
    (tmp_path / "unicode.csv").write_bytes(text.encode("utf-16"))
    (tmp_path / "unicode.txt").write_bytes(text.replace("0301", "0303").replace("0302", "0304").encode("utf-16"))
    for name in ("unicode.csv", "unicode.txt"):
        _, out = school.run("roster", "import", str(tmp_path / name), "--school", school.code, "--apply")
        assert len(out["new"]) == 2 and out["invalid"] == [], out
    with school.db() as conn:
        names = sorted(r[0] for r in conn.execute("SELECT full_name FROM students"))
    assert names == ["Lâm, Văn Đức", "Lâm, Văn Đức", "Thạch Thị Sa Rết", "Thạch Thị Sa Rết"]


def test_preview_names_changed_fields_in_vietnamese(school, tmp_path):
    school.run("roster", "import", str(xlsx(tmp_path / "v1.xlsx", moet_rows(2))), "--school", school.code,
               "--apply")
    rows = moet_rows(2)
    rows[0][2] = "Nguyễn Văn Mới"
    from typer.testing import CliRunner

    from enrollment_tools.cli import app
    result = CliRunner().invoke(app, ["roster", "import", str(xlsx(tmp_path / "v2.xlsx", rows)), "--school",
                                      school.code, "--config", str(school.config)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Họ và tên:" in result.output and "full_name" not in result.output
