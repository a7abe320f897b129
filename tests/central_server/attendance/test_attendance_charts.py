"""Every chart the attendance module draws, tested by its geometry: each point's y is the y its value has
between the gridlines (interpolated from the gridlines' own labels), and the line goes through the points."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central_server.attendance.service import apply_event
from central_server.attendance.svg import trend_svg
from central_server.core.clock import local_today

NS = "{http://www.w3.org/2000/svg}"
TOL = 0.05  # px: coordinates are written with two decimals


def check_geometry(svg_text: str) -> list[float]:
    """Assert the chart's geometry; return the rates of its points, in drawing order."""
    root = ET.fromstring(svg_text)
    lines = [e for e in root.findall(f"{NS}line") if e.get("y1") == e.get("y2")]
    labels = [e for e in root.findall(f"{NS}text") if re.fullmatch(r"\d+%", e.text or "")]
    assert len(lines) >= 2 and len(labels) == len(lines)
    for line, lab in zip(lines, labels, strict=True):  # each label sits on its own line
        assert abs(float(lab.get("y")) - 4 - float(line.get("y1"))) < TOL
    grid = sorted((float(lab.text.rstrip("%")) / 100, float(line.get("y1")))
                  for line, lab in zip(lines, labels, strict=True))
    ys = [y for _, y in grid]
    assert ys == sorted(ys, reverse=True), "a higher value must be drawn higher"
    rect = root.find(f"{NS}rect")
    top, bottom = float(rect.get("y")), float(rect.get("y")) + float(rect.get("height"))
    assert all(top - TOL <= y <= bottom + TOL for y in ys)
    rates, drawn = [], []
    for c in root.findall(f"{NS}circle"):
        m = re.fullmatch(r"\d\d/\d\d: (\d+\.\d)%", c.find(f"{NS}title").text)
        assert m
        rate = float(m.group(1)) / 100  # the value the tooltip tells the reader, to 0.05 %
        assert grid[0][0] - 0.0005 <= rate <= grid[-1][0] + 0.0005, f"{rate} is outside the gridlines"
        (v0, y0), (v1, y1) = next(((a, b) for a, b in zip(grid, grid[1:], strict=False) if rate <= b[0]),
                                  (grid[-2], grid[-1]))
        slope = (y1 - y0) / (v1 - v0)
        expected = y0 + slope * (rate - v0)
        assert abs(float(c.get("cy")) - expected) <= TOL + abs(slope) * 0.0005, (rate, c.get("cy"), expected)
        rates.append(rate)
        drawn.append((c.get("cx"), c.get("cy")))
    poly = root.find(f"{NS}polyline")
    if rates:
        assert [tuple(p.split(",")) for p in poly.get("points").split()] == drawn
    else:
        assert poly is None
    return rates


def test_a_91_percent_day_sits_between_the_90_and_100_percent_lines():
    start = dt.date(2026, 11, 2)
    svg = trend_svg([(start, 0.91), (start + dt.timedelta(days=1), 0.5), (start + dt.timedelta(days=2), 1.0)])
    assert check_geometry(svg) == pytest.approx([0.91, 0.5, 1.0])


@settings(max_examples=200, deadline=None)
@given(rates=st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=31))
def test_trend_chart_geometry_for_any_series(rates):
    start = dt.date(2026, 10, 5)
    series = [(start + dt.timedelta(days=i), r) for i, r in enumerate(rates)]
    assert check_geometry(trend_svg(series)) == pytest.approx([r for r in rates if r is not None], abs=0.0005)


def _svg_in(html: str) -> str:
    m = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" class="trend".*?</svg>', html, re.S)
    assert m, "no trend chart on the page"
    return m.group(0)


def test_every_attendance_page_chart_is_drawn_to_scale(world, client_for, bearer_for, client, make_ev, db, settings):
    """Overview (province and school accounts) and school pages: a 30-day trend with days from 1/3 to 100 %."""
    s = world["students"]
    today = local_today()
    # day i: the first `present[i]` of school A's three students are present in the morning, the rest K
    present = [3, 2, 1, 3, 0, 2, 3]
    for i, n in enumerate(present):
        day = today - dt.timedelta(days=len(present) - 1 - i)
        for j in range(3):
            apply_event(db, make_ev("94000701", s[j].personal_id, day, None, "present" if j < n else "K",
                                    session="morning", class_code="x"), settings)
        apply_event(db, make_ev("94000702", s[3].personal_id, day, None, "present", session="morning",
                                class_code="x"), settings)
    db.commit()
    a = world["a"]
    api = client.get(f"/api/attendance/schools/{a.id}", headers=bearer_for(world["users"]["school_admin"])).json()
    expected = [r for _, r in api["series"] if r is not None]
    assert len(expected) == len(present) and min(expected) < 0.5 < max(expected)
    pages = [("province_staff", "/overview"), ("school_admin", "/overview"), ("school_admin", f"/schools/{a.id}"),
             ("province_admin", f"/schools/{a.id}"), ("school_admin_b", f"/schools/{world['b'].id}")]
    for role, url in pages:
        r = client_for(world["users"][role]).get(url)
        assert r.status_code == 200, (role, url)
        rates = check_geometry(_svg_in(r.text))
        assert rates, (role, url)
        if url == f"/schools/{a.id}":
            assert rates == pytest.approx(expected, abs=0.0005)
