"""Consent gates enrolment (silence is not consent; a minor needs parent *and* student), withdrawal erases;
a deliberate duplicate (one person under two ids) is caught, and enrolled only with --force."""

from __future__ import annotations

from edge_agent.store import erasure_queue
from tests.enrollment_tools.conftest import STUDENTS, lfw, put, to_cp1258


def test_student_without_consent_is_never_enrolled(school, datasets, calibrated, tmp_path):
    school.add_students(consent=())
    school.run("consent", "set", "094209000102", "--given-by", "parent")      # parent only: a 16-year-old
    school.run("consent", "set", "094209000103", "--given-by", "parent")
    school.run("consent", "set", "094209000103", "--given-by", "student")     # both: may be enrolled
    d = tmp_path / "photos"
    put(d / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2))
    put(d / "094209000102", *lfw(datasets, "Gerhard_Schroeder", 1, 2))
    put(d / "094209000103", *lfw(datasets, "George_W_Bush", 1, 2))
    _, out = school.run("photos", str(d), "--school", school.code, "--workers", "1")
    assert school.templates("094209000101") == 0 and school.templates("094209000102") == 0
    assert school.templates("094209000103") == 2
    reasons = {r["path"].rsplit("/", 2)[-2]: r for r in out["rejected"]}
    assert reasons["094209000101"]["code"] == "no_consent"
    assert "student" in reasons["094209000102"]["reason"] and reasons["094209000102"]["code"] == "no_consent"
    _, status = school.run("status")
    missing = {x["student_id"]: x["missing"] for x in status["without_consent"]}
    assert missing["094209000101"] == ["parent", "student"] and missing["094209000102"] == ["student"]
    assert "094209000103" not in missing
    # capture is refused as well, before any camera is opened
    code, out = school.run("capture", "094209000101", "--source", "/nonexistent.mp4", ok=False)
    assert code == 1 and "đồng ý" in out["error"]


def test_withdrawal_erases_templates_and_thumbnail(school, datasets, calibrated, tmp_path):
    school.add_students()
    put(tmp_path / "p" / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2, 3))
    put(tmp_path / "p" / "094209000102", *lfw(datasets, "Gerhard_Schroeder", 1, 2))
    school.run("photos", str(tmp_path / "p"), "--school", school.code, "--workers", "1", "--keep-thumbnails")
    assert school.templates("094209000101") == 3 and school.templates("094209000102") == 2
    # the student (not only the parent) may withdraw, from the command line
    _, out = school.run("consent", "set", "094209000102", "--given-by", "student", "--withdraw")
    assert out["erasure"]["templates_removed"] == 2 and out["erasure"]["thumbnails_removed"] == 1
    assert school.templates("094209000102") == 0
    # the withdrawal comes in a consent list from the parents' meeting, Windows-1258 encoded
    (tmp_path / "rut.csv").write_bytes(to_cp1258("Mã định danh;Người đồng ý;Mục đích;Rút lại\n"
                                                 "094209000101;Phụ huynh;Điểm danh;15/10/2025\n"))
    _, out = school.run("consent", "import", str(tmp_path / "rut.csv"))
    assert out["withdrawn"] == 1 and out["erasures"][0]["templates_removed"] == 3
    assert school.templates("094209000101") == 0
    with school.db() as conn:
        assert conn.execute("SELECT count(*) FROM student_thumbnails").fetchone()[0] == 0
        assert conn.execute("SELECT withdrawn_at FROM consents WHERE student_id = '094209000101' AND "
                            "given_by = 'parent'").fetchone()[0] == "2025-10-15"
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE target = '094209000101'")]
        assert "consent.withdraw" in actions and "enroll.erase" in actions
        assert [e.student_id for e in erasure_queue.pending(conn)] == ["094209000102", "094209000101"]
    # and the student is not enrolled again while the consent stays withdrawn
    code, out = school.run("photos", str(tmp_path / "p"), "--school", school.code, "--workers", "1", ok=False)
    assert code == 1 and "không đăng ký được học sinh nào" in out["error"]   # nothing enrolled is not a success
    assert school.templates("094209000101") == 0 and school.templates("094209000102") == 0
    assert {r["code"] for r in out["rejected"]} == {"no_consent"}


def test_consent_import_bad_rows_write_nothing(school, tmp_path):
    school.add_students(consent=())
    before = school.dump()
    (tmp_path / "c.csv").write_text("\ufeffMã định danh,Người đồng ý,Ngày đồng ý\n094209000101,phụ huynh,01/09/2025\n"
                                    "094209000199,phụ huynh,01/09/2025\n094209000102,ông hàng xóm,01/09/2025\n"
                                    "094209000101,Phụ huynh,02/09/2025\n", encoding="utf-8")
    code, out = school.run("consent", "import", str(tmp_path / "c.csv"), ok=False)
    assert code == 1 and "c.csv" in out["error"]
    rows = {b["row"]: " ".join(b["reasons"]) for b in out["invalid"]}
    assert "094209000199" in rows[3] and "người đồng ý" in rows[4] and "trùng với dòng 2" in rows[5]
    assert school.dump() == before
    (tmp_path / "x.csv").write_text("Họ và tên,Ngày\nA,1\n", encoding="utf-8")
    code, out = school.run("consent", "import", str(tmp_path / "x.csv"), ok=False)
    assert code == 1 and "thiếu cột" in out["error"] and "x.csv" in out["error"]
    code, out = school.run("consent", "set", "094209000199", "--given-by", "parent", ok=False)
    assert code == 1 and "094209000199" in out["error"]
    assert school.dump() == before


def test_duplicate_person_under_two_ids_is_caught(school, datasets, calibrated, tmp_path):
    school.add_students()
    d = tmp_path / "photos"
    # photo day: one student is photographed (webcam) and registered twice, under two ids
    nuaa = datasets / "ea-nuaa-webcam-15/nuaa_0002"
    put(d / "094209000101", *(nuaa / f"0002_01_00_01_{n}.jpg" for n in (14, 109, 227)))
    put(d / "094209000102", *(nuaa / f"0002_01_00_01_{n}.jpg" for n in (350, 496)))
    put(d / "094209000103", *lfw(datasets, "Colin_Powell", 1, 2))         # someone else
    _, out = school.run("photos", str(d), "--school", school.code, "--workers", "1")
    assert school.templates("094209000101") == 3 and school.templates("094209000103") == 2
    assert school.templates("094209000102") == 0
    dups = out["duplicates"]
    assert {d["student_id"] for d in dups} == {"094209000102"} and {d["other"] for d in dups} == {"094209000101"}
    assert all(d["score"] >= calibrated for d in dups)
    assert {r["code"] for r in out["rejected"]} == {"duplicate"}
    # --force enrols it anyway, marked and audited
    _, out = school.run("photos", str(d), "--school", school.code, "--workers", "1", "--force")
    assert school.templates("094209000102") == 2
    with school.db() as conn:
        assert conn.execute("SELECT count(*) FROM face_templates WHERE forced = 1").fetchone()[0] == 2
        detail = conn.execute("SELECT detail FROM audit_log WHERE action = 'enroll.photo' AND "
                              "target = '094209000102' ORDER BY id DESC").fetchone()[0]
    assert '"forced": 2' in detail
    assert set(STUDENTS) >= {"094209000101", "094209000102"}


def test_who_must_consent_changes_on_the_birthday():
    from datetime import date

    from enrollment_tools.consent import required_givers

    assert required_givers("2019-11-30", on=date(2026, 11, 29)) == {"parent"}             # 6: the parent
    assert required_givers("2019-11-30", on=date(2026, 11, 30)) == {"parent", "student"}  # 7: and the child
    assert required_givers("2008-11-30", on=date(2026, 11, 29)) == {"parent", "student"}
    assert required_givers("2008-11-30", on=date(2026, 11, 30)) == {"student"}            # 18: alone
    assert required_givers(None) == required_givers("không rõ") == {"parent", "student"}


def test_photos_that_enrol_nobody_fail(school, datasets, calibrated, tmp_path):
    """Only students without consent: nothing is enrolled, and the command says so with a non-zero exit."""
    school.add_students(consent=())
    d = tmp_path / "photos"
    put(d / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2))
    put(d / "094209000102", *lfw(datasets, "George_W_Bush", 1))
    code, out = school.run("photos", str(d), "--school", school.code, "--workers", "1", ok=False)
    assert code == 1 and out["ok"] is False
    assert "không đăng ký được học sinh nào" in out["error"] and "3 ảnh: chưa có đồng ý" in out["error"]
    assert out["templates_added"] == 0 and {r["code"] for r in out["rejected"]} == {"no_consent"}
    assert school.templates("094209000101") == 0 and school.templates("094209000102") == 0
    from enrollment_tools.cli import app

    human = school.runner.invoke(app, ["photos", str(d), "--school", school.code, "--workers", "1", "--config",
                                       str(school.config)])
    assert human.exit_code == 1 and "Lỗi:" in human.output
