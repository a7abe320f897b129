"""Server-side SVG charts of the operations centre (no JavaScript, no CDN): a weekly line chart with labelled
gridlines, and a small sparkline for a tile. Each gridline and point carries `data-value`, and both use one
`y_of` mapping, so a point lies exactly on the gridline of its value (the tests check this geometry)."""

from __future__ import annotations

import datetime as dt
from html import escape


def _fmt(value: float, pct: bool) -> str:
    return f"{value * 100:.0f}%" if pct else f"{value:g}"


def scale(values: list[float], pct: bool) -> tuple[float, float, list[float]]:
    """(low, high, gridline values) covering `values`: shares on 0..100 % in steps of 25 %, counts on nice steps."""
    if pct:
        return 0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]
    top = max(values or [1.0])
    step = 1.0
    for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000):
        step = float(s)
        if top / s <= 4:
            break
    high = step * max(1, -(-top // step))
    return 0.0, high, [step * i for i in range(int(high / step) + 1)]


def line_chart(series: list[tuple[dt.date, float | None]], *, pct: bool = True, title: str = "",
               width: int = 640, height: int = 200) -> str:
    pad_l, pad_r, pad_t, pad_b = 44, 12, 22, 26
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    points = [(d, v) for d, v in series if v is not None]
    low, high, grid = scale([v for _, v in points], pct)

    def y_of(v: float) -> float:
        return round(pad_t + h * (1 - (min(max(v, low), high) - low) / ((high - low) or 1)), 2)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="ioc-chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafbfc" stroke="#d0d7de"/>']
    for g in grid:
        parts.append(f'<line class="grid" data-value="{g:g}" x1="{pad_l}" x2="{pad_l + w}" y1="{y_of(g)}" '
                     f'y2="{y_of(g)}" stroke="#e1e5ea"/><text x="{pad_l - 4}" y="{y_of(g) + 4}" font-size="10" '
                     f'text-anchor="end">{_fmt(g, pct)}</text>')
    if not points:
        parts.append(f'<text x="{pad_l + w / 2}" y="{pad_t + h / 2}" text-anchor="middle" font-size="12">'
                     'Chưa có dữ liệu</text></svg>')
        return "".join(parts)
    n = len(points)

    def x_of(i: int) -> float:
        return round(pad_l + (w * i / (n - 1) if n > 1 else w / 2), 2)

    path = " ".join(f"{x_of(i)},{y_of(v)}" for i, (_, v) in enumerate(points))
    parts.append(f'<polyline fill="none" stroke="#0b4f8a" stroke-width="2" points="{path}"/>')
    for i, (d, v) in enumerate(points):
        parts.append(f'<circle class="point" data-value="{v:g}" data-week="{d.isoformat()}" cx="{x_of(i)}" '
                     f'cy="{y_of(v)}" r="3" fill="#0b4f8a"><title>Tuần {d:%d/%m}: {_fmt(v, pct) if pct else f"{v:g}"}'
                     '</title></circle>')
    parts.append(f'<text x="{pad_l}" y="{height - 8}" font-size="10">{points[0][0]:%d/%m/%Y}</text>'
                 f'<text x="{pad_l + w}" y="{height - 8}" font-size="10" text-anchor="end">'
                 f'{points[-1][0]:%d/%m/%Y}</text></svg>')
    return "".join(parts)


def sparkline(series: list[tuple[dt.date, float | None]], *, pct: bool, width: int = 120, height: int = 28) -> str:
    values = [v for _, v in series if v is not None]
    if len(values) < 2:
        return ""
    low, high = (0.0, 1.0) if pct else (min(values), max(values))
    span = (high - low) or 1.0
    pts = " ".join(f"{2 + (width - 4) * i / (len(values) - 1):.1f},{2 + (height - 4) * (1 - (v - low) / span):.1f}"
                   for i, v in enumerate(values))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" aria-hidden="true"><polyline fill="none" stroke="#0b4f8a" stroke-width="1.5" '
            f'points="{pts}"/></svg>')
