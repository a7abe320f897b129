"""A small server-rendered SVG line chart of daily attendance rates (no JavaScript library needed)."""

from __future__ import annotations

import datetime as dt
from html import escape


def trend_svg(series: list[tuple[dt.date, float | None]], width: int = 640, height: int = 180,
              title: str = "Tỉ lệ chuyên cần theo ngày") -> str:
    pad_l, pad_r, pad_t, pad_b = 40, 10, 20, 28
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    points = [(d, r) for d, r in series if r is not None]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafbfc" stroke="#d0d7de"/>']
    for pct in (0.5, 0.75, 1.0):
        y = pad_t + h * (1 - pct)
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e1e5ea"/>'
                     f'<text x="{pad_l - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{int(pct * 100)}%</text>')
    if not points:
        parts.append(f'<text x="{pad_l + w / 2}" y="{pad_t + h / 2}" text-anchor="middle" font-size="12">'
                     'Chưa có dữ liệu</text></svg>')
        return "".join(parts)
    start, end = points[0][0], points[-1][0]
    span = max((end - start).days, 1)

    def xy(d: dt.date, r: float) -> tuple[float, float]:
        y_rate = min(max((r - 0.5) / 0.5, 0.0), 1.0)  # the chart shows 50 %..100 %
        return pad_l + w * (d - start).days / span, pad_t + h * (1 - y_rate)

    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(d, r) for d, r in points))
    parts.append(f'<polyline fill="none" stroke="#0b4f8a" stroke-width="2" points="{path}"/>')
    for d, r in points:
        x, y = xy(d, r)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#0b4f8a"><title>{d:%d/%m}: '
                     f'{r * 100:.1f}%</title></circle>')
    parts.append(f'<text x="{pad_l}" y="{height - 8}" font-size="10">{start:%d/%m/%Y}</text>'
                 f'<text x="{pad_l + w}" y="{height - 8}" font-size="10" text-anchor="end">{end:%d/%m/%Y}</text>')
    parts.append("</svg>")
    return "".join(parts)
