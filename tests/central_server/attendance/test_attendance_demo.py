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
