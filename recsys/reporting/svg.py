"""Small inline SVG charts (no plotting library, no CDN): a time series with markers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

MIN_SPAN_SECONDS = 3600.0
PALETTE = ("#0b5cad", "#c2410c", "#0b6e3f", "#7a2e6f", "#57608f", "#8a5a00")


@dataclass(frozen=True)
class Series:
    """Points of one line; ``step`` draws it as a staircase (a value that holds until the next)."""

    name: str
    points: Sequence[tuple[datetime, float]]
    step: bool = False
    line: bool = True


def _ticks(low: float, high: float, n: int = 4) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / n for i in range(n + 1)]


def time_chart(series: Sequence[Series], *, title: str, y_label: str, width: int = 720,
               height: int = 260, y_range: tuple[float, float] | None = None,
               percent: bool = False) -> str:
    """An SVG chart of ``series`` over time, with a legend, axes and labelled markers
    (``y_range`` fixes the vertical axis, e.g. ``(0, 1)`` for shares; ``percent`` labels it
    in percent)."""
    points = [p for s in series for p in s.points]
    if not points:
        return f'<p class="empty">{escape(title)}: nothing to plot yet.</p>'
    left, right, top, bottom = 64, 16, 28, 44
    xs = [p[0].timestamp() for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < MIN_SPAN_SECONDS:  # points minutes apart: an hour around them, ticks apart
        middle = (x0 + x1) / 2
        x0, x1 = middle - MIN_SPAN_SECONDS / 2, middle + MIN_SPAN_SECONDS / 2
    pad = (max(ys) - min(ys)) * 0.1 or abs(ys[0]) * 0.05 or 0.01
    y0, y1 = y_range if y_range is not None else (min(ys) - pad, max(ys) + pad)

    def fmt(v: float) -> str:
        return f"{100 * v:.0f}%" if percent else f"{v:.4f}"

    def px(t: datetime) -> float:
        return left + (t.timestamp() - x0) / (x1 - x0) * (width - left - right)

    def py(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (height - top - bottom)

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>']
    for value in _ticks(y0, y1):
        y = py(value)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{fmt(value)}</text>')
    for i, value in enumerate(_ticks(x0, x1, 3)):
        x = left + i / 3 * (width - left - right)
        label = datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M")
        anchor = "start" if i == 0 else "end" if i == 3 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 18}" text-anchor="{anchor}" '
                     f'class="tick">{label}</text>')
    parts.append(f'<text x="14" y="{(top + height - bottom) / 2:.0f}" class="tick" '
                 f'transform="rotate(-90 14 {(top + height - bottom) / 2:.0f})" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    for n, s in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        ordered = sorted(s.points)
        if s.line and len(ordered) > 1:
            coords: list[str] = []
            for i, (t, v) in enumerate(ordered):
                if s.step and i:
                    coords.append(f"{px(t):.1f},{py(ordered[i - 1][1]):.1f}")
                coords.append(f"{px(t):.1f},{py(v):.1f}")
            if s.step:
                coords.append(f"{width - right:.1f},{py(ordered[-1][1]):.1f}")
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(coords)}"/>')
        for t, v in ordered:
            parts.append(f'<circle cx="{px(t):.1f}" cy="{py(v):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{escape(s.name)}: {fmt(v)} at {t:%Y-%m-%d %H:%M}</title></circle>')
        lx = left + n * 200
        parts.append(f'<rect x="{lx}" y="{height - 14}" width="12" height="4" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{height - 9}" class="tick">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
