"""The generated demo dataset loads into a migrated database and renders in the province pages."""

from __future__ import annotations

from sqlalchemy import func, select

from central_server.attendance.demo import DemoSize, generate
from central_server.attendance.tables import AttendanceSession
from central_server.core.clock import local_today


def test_demo_dataset_renders(app, db, client, login_as):
    counts = generate(app.state.engine, DemoSize(schools=3, classes_per_school=2, students_per_class=5, days=10),
                      local_today(), password="Demo-2025-pass")
    assert counts == {"schools": 3, "classes": 6, "students": 30, "days": 10, "marks": 600}
    assert db.scalar(select(func.count()).select_from(AttendanceSession)) == 600
    login_as(client, "so_canbo", "Demo-2025-pass")
    page = client.get("/overview")
    table = page.text[page.text.index('id="schools-table"'):]
    assert page.status_code == 200 and table.count("THPT Demo") == 3 and "<polyline" in page.text
    assert 'id="kpi-never">3<' in page.text  # the demo schools have no edge agent: never connected
    data = client.get("/api/attendance/overview").json()
    assert len(data["schools"]) == 3 and all(0.5 < s["rate_week"] <= 1.0 for s in data["schools"])
    school = data["schools"][0]["school_id"]
    assert client.get(f"/schools/{school}").status_code == 200


def test_demo_dataset_has_students_near_and_over_the_absence_limits(app, db, client, login_as):
    """The warnings page demonstrates the 30/40 warning levels and the 45-session limit (Circular 22)."""
    generate(app.state.engine, DemoSize(schools=2, classes_per_school=2, students_per_class=5, days=25),
             local_today(), password="Demo-2025-pass")
    login_as(client, "so_canbo", "Demo-2025-pass")
    rows = client.get("/api/attendance/warnings").json()
    assert sorted(r["total"] for r in rows if r["total"] >= 30) == [32, 36, 41, 46, 47], rows
    hard = {r["total"]: r for r in rows}
    assert hard[32]["warning_level"] == 30 and hard[36]["warning_level"] == 30 and hard[41]["warning_level"] == 40
    assert sorted(r["total"] for r in rows if r["not_eligible"]) == [46, 47]
    assert all(r["excused"] and r["unexcused"] for r in hard.values())  # P and K both count
    # and one just under the first level (28), not yet on the list
    absent = (select(AttendanceSession.student_id, func.count()).where(AttendanceSession.status.in_(("P", "K")))
              .group_by(AttendanceSession.student_id))
    assert 28 in {n for _, n in db.execute(absent)}
    page = client.get("/warnings")
    assert page.status_code == 200
    for r in (hard[32], hard[41], hard[47]):
        assert r["full_name"] in page.text
    # the school's own administrator sees the four cases of that school
    login_as(client, "admin_t01", "Demo-2025-pass")
    mine = sorted(r["total"] for r in client.get("/api/attendance/warnings").json() if r["total"] >= 30)
    assert mine == [32, 41, 47]
