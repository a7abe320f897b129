"""A small server-rendered SVG line chart of daily attendance rates (no JavaScript library needed).

One `RateScale` maps a rate to its y coordinate for everything drawn on the value axis (gridlines, their
labels, the line and its points), so a point always sits at its value between the gridlines.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class RateScale:
    """Linear map of a rate in [lo, hi] onto the pixel rows [bottom, top] (SVG y grows downwards)."""

    lo: float
    hi: float
    top: float
    bottom: float

    @classmethod
    def for_rates(cls, rates: list[float], top: float, bottom: float) -> RateScale:
        """50-100 % when every rate is at least 50 %; otherwise down to the 25 % step below the lowest rate."""
        low = min(rates, default=1.0)
        lo = 0.5 if low >= 0.5 else max(0.0, math.floor(low / 0.25 + 1e-9) * 0.25)
        return cls(lo, 1.0, top, bottom)

    def y(self, rate: float) -> float:
        r = min(max(rate, self.lo), self.hi)
        return self.bottom - (self.bottom - self.top) * (r - self.lo) / (self.hi - self.lo)

    def ticks(self) -> list[float]:
        """Gridline values: every 10 % on a 50-100 % axis, every 25 % on a wider one."""
        step = 0.1 if self.hi - self.lo <= 0.5 + 1e-9 else 0.25
        n = round((self.hi - self.lo) / step)
        return [round(self.lo + i * step, 4) for i in range(n + 1)]


def trend_svg(series: list[tuple[dt.date, float | None]], width: int = 640, height: int = 180,
              title: str = "Tỉ lệ chuyên cần theo ngày") -> str:
    pad_l, pad_r, pad_t, pad_b = 40, 10, 20, 28
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    points = [(d, r) for d, r in series if r is not None]
    scale = RateScale.for_rates([r for _, r in points], pad_t, pad_t + h)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafbfc" stroke="#d0d7de"/>']
    for pct in scale.ticks():
        y = scale.y(pct)
        parts.append(f'<line class="gridline" x1="{pad_l}" x2="{pad_l + w}" y1="{y:.2f}" y2="{y:.2f}" '
                     f'stroke="#e1e5ea"/>'
                     f'<text class="gridline-label" x="{pad_l - 4}" y="{y + 4:.2f}" font-size="10" '
                     f'text-anchor="end">{round(pct * 100)}%</text>')
    if not points:
        parts.append(f'<text x="{pad_l + w / 2}" y="{pad_t + h / 2}" text-anchor="middle" font-size="12">'
                     'Chưa có dữ liệu</text></svg>')
        return "".join(parts)
    start, end = points[0][0], points[-1][0]
    span = max((end - start).days, 1)

    def xy(d: dt.date, r: float) -> tuple[float, float]:
        return pad_l + w * (d - start).days / span, scale.y(r)

    path = " ".join(f"{x:.2f},{y:.2f}" for x, y in (xy(d, r) for d, r in points))
    parts.append(f'<polyline fill="none" stroke="#0b4f8a" stroke-width="2" points="{path}"/>')
    for d, r in points:
        x, y = xy(d, r)
        parts.append(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="2.5" fill="#0b4f8a">'
                     f'<title>{d:%d/%m}: {r * 100:.1f}%</title></circle>')
    parts.append(f'<text x="{pad_l}" y="{height - 8}" font-size="10">{start:%d/%m/%Y}</text>'
                 f'<text x="{pad_l + w}" y="{height - 8}" font-size="10" text-anchor="end">{end:%d/%m/%Y}</text>')
    parts.append("</svg>")
    return "".join(parts)
