"""Charts are tested by their geometry: every point lies on the gridline of its value."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from central_server.ioc.svg import line_chart, scale, sparkline

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str):
    root = ET.fromstring(svg)
    grid = {float(e.get("data-value")): float(e.get("y1")) for e in root.iter(f"{NS}line") if e.get("class") == "grid"}
    points = [(float(e.get("data-value")), float(e.get("cx")), float(e.get("cy")))
              for e in root.iter(f"{NS}circle") if e.get("class") == "point"]
    return root, grid, points


def test_points_lie_on_the_gridline_of_their_value():
    weeks = [dt.date(2026, 9, 7) + dt.timedelta(weeks=i) for i in range(6)]
    series = list(zip(weeks, [1.0, 0.75, None, 0.5, 0.25, 0.0], strict=True))
    _, grid, points = _parse(line_chart(series, pct=True))
    assert sorted(grid) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [v for v, _, _ in points] == [1.0, 0.75, 0.5, 0.25, 0.0]  # the missing week is not drawn
    for value, _, y in points:
        assert y == grid[value]
    ys = [grid[v] for v in sorted(grid)]
    assert ys == sorted(ys, reverse=True)  # higher values higher up
    xs = [x for _, x, _ in points]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)


def test_in_between_values_and_counts():
    weeks = [dt.date(2026, 9, 7) + dt.timedelta(weeks=i) for i in range(3)]
    _, grid, points = _parse(line_chart(list(zip(weeks, [0.9, 0.6, 0.875], strict=True)), pct=True))
    for value, _, y in points:  # linear between the 75 % and 100 % gridlines
        lo, hi = max(g for g in grid if g <= value), min(g for g in grid if g >= value)
        if lo != hi:
            expected = grid[lo] + (grid[hi] - grid[lo]) * (value - lo) / (hi - lo)
            assert abs(y - expected) < 0.02
    low, high, lines = scale([3, 17, 40], pct=False)
    assert (low, high) == (0.0, 40.0) and lines == [0.0, 10.0, 20.0, 30.0, 40.0]
    _, grid, points = _parse(line_chart(list(zip(weeks, [10.0, 20.0, 40.0], strict=True)), pct=False))
    for value, _, y in points:
        assert y == grid[value]


def test_empty_and_sparkline():
    root, grid, points = _parse(line_chart([], pct=True, title="Không"))
    assert points == [] and "Chưa có dữ liệu" in ET.tostring(root, encoding="unicode")
    assert sparkline([(dt.date(2026, 9, 7), 0.5)], pct=True) == ""
    spark = ET.fromstring(sparkline([(dt.date(2026, 9, 7), 1.0), (dt.date(2026, 9, 14), 0.0)], pct=True, height=28))
    pts = spark.find(f"{NS}polyline").get("points").split()
    assert [float(p.split(",")[1]) for p in pts] == [2.0, 26.0]
