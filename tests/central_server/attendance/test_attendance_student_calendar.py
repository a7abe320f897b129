"""A student's page shows the whole school year as a calendar, one coloured mark per session (server-side)."""

from __future__ import annotations

import datetime as dt
import re

from central_server.attendance.reports import year_terms
from central_server.attendance.service import apply_event
from central_server.core.clock import local_today


def _cell(html: str, day: dt.date) -> str:
    m = re.search(rf'<td class="[^"]*" data-day="{day.isoformat()}">(.*?)</td>', html, re.S)
    assert m, f"no calendar cell for {day}"
    return m.group(1)


def test_student_page_shows_the_school_year_as_a_calendar(world, db, settings, make_ev, client_for):
    s0 = world["students"][0]
    today = local_today()
    d1, d2, d3 = today - dt.timedelta(days=3), today - dt.timedelta(days=2), today - dt.timedelta(days=1)
    apply_event(db, make_ev("94000701", s0.personal_id, d1, None, "P", session="morning"), settings)
    apply_event(db, make_ev("94000701", s0.personal_id, d1, None, "present", session="afternoon"), settings)
    apply_event(db, make_ev("94000701", s0.personal_id, d2, None, "K", session="afternoon"), settings)
    apply_event(db, make_ev("94000701", s0.personal_id, d3, None, "present", session="morning",
                            kind="attendance.proposed"), settings)
    db.commit()
    html = client_for(world["users"]["province_admin"]).get(f"/students/{s0.id}").text
    assert "60 ngày" not in html and 'id="year-calendar"' in html

    # every month of the school year, and nothing else
    year = year_terms(db, today, settings)[-1]
    months = re.findall(r'<table class="cal-month" data-month="(\d{4}-\d{2})">', html)
    assert months[0] == f"{year.start:%Y-%m}" and months[-1] == f"{year.end:%Y-%m}"
    assert len(months) == len(set(months)) == (year.end.year - year.start.year) * 12 + year.end.month \
        - year.start.month + 1

    one = _cell(html, d1)  # morning excused, afternoon present: two marks, morning first
    assert re.findall(r'class="cal-s (cal-\w+)', one) == ["cal-p", "cal-ok"]
    assert "Sáng" in one and "Vắng có phép" in one and "Có mặt" in one
    two = _cell(html, d2)  # afternoon only: the morning place stays empty, so the K sits on the right
    assert re.findall(r'class="cal-s (cal-\w+)', two) == ["cal-k"]
    assert re.search(r'<span class="cal-slot"></span><span class="cal-s cal-k"', two) and "Chiều" in two
    pending = _cell(html, d3)  # the camera's proposal, not yet confirmed: shown as open
    assert "cal-open" in pending and "chưa chốt" in pending
    assert 'class="cal-s' not in _cell(html, year.start)  # a day without attendance has no mark
    assert re.search(rf'<td class="[^"]*cal-today[^"]*" data-day="{today.isoformat()}"', html)
