"""Inline SVG charts for the report (pure: values in, markup out).

Three shapes cover the page: a time chart (lines, steps and bars on a left
and an optional right axis), a diverging bar chart (one row per item,
positive to the right, negative to the left) and a scatter with the
diagonal. Each mark carries a ``<title>``, which browsers show on hover
without any script. Coordinates are floats; the figures they stand for
stay integers elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

FONT = 'font-family="system-ui, sans-serif" font-size="11"'
GRID = "#e3e6ea"
AXIS = "#6b7280"
INK = "#1f2933"

Format = Callable[[float], str]


def plain(v: float) -> str:
    """Axis labels: 950, 12.5k, 150M (the exact figures are in the tables)."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:,.4g}M"
    if a >= 1e4:
        return f"{v / 1e3:,.4g}k"
    return f"{v:,.0f}" if a >= 10 or v == int(v) else f"{v:,.2f}"


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    color: str
    kind: str = "line"  # line | step | bars
    axis: str = "left"  # left | right
    dashed: bool = False
    tips: Sequence[str] | None = None  # one hover text per point


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 x 10^k."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t < hi + step * 0.5:
        ticks.append(round(t, 10))
        t += step
    return ticks


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float) -> None:
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        return self.a + (v - self.lo) * (self.b - self.a) / (self.hi - self.lo)


def _domain(values: Sequence[float], include_zero: bool) -> tuple[float, float]:
    """The values' range, with zero when asked, and a little air where it is not zero."""
    lo = min(values, default=0.0)
    hi = max(values, default=1.0)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        return (lo - 1.0, hi + 1.0) if lo else (0.0, 1.0)
    pad = (hi - lo) * 0.04
    return (lo - pad if lo != 0 else lo), (hi + pad if hi != 0 else hi)


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{escape(label)}" {FONT}>' + "".join(body) + "</svg>")


def _legend(items: Sequence[tuple[str, str, bool]], x: float, y: float) -> list[str]:
    out = []
    for name, color, dashed in items:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 16:.1f}" y2="{y:.1f}" '
                   f'stroke="{color}" stroke-width="3"{dash}/>')
        out.append(f'<text x="{x + 20:.1f}" y="{y + 4:.1f}" fill="{INK}">{escape(name)}</text>')
        x += 28 + 6.5 * len(name)
    return out


def time_chart(series: Sequence[Series], *, x_format: Format, label: str,
               y_format: Format = plain, y2_format: Format | None = None,
               width: int = 880, height: int = 260, x_slot: float = 1.0,
               x_range: tuple[float, float] | None = None, y_zero: bool = True) -> str:
    """Lines, steps and bars over a shared x axis (e.g. days). Bars are
    ``x_slot`` wide in x units, side by side when several series have bars;
    ``x_range`` fixes the axis (several charts on one time axis); with
    ``y_zero`` False the axes show only the values' range."""
    right = any(s.axis == "right" for s in series)
    ml, mr, mt, mb = 72, (64 if right else 16), 12, 46
    xs = [x for s in series for x, _ in s.points]
    if not xs:
        return _svg(width, 60, label, [f'<text x="10" y="30" fill="{AXIS}">no data</text>'])
    bars = [s for s in series if s.kind == "bars"]
    x_lo, x_hi = min(xs), max(xs) + (x_slot if bars else 0.0)
    if x_range is not None:
        x_lo, x_hi = min(x_lo, x_range[0]), max(x_hi, x_range[1])
    x = _Scale(x_lo, x_hi, ml, width - mr)
    body: list[str] = []
    axes = {}
    for side in ("left", "right"):
        vals = [v for s in series if s.axis == side for _, v in s.points]
        if side == "right" and not right:
            continue
        has_bars = any(s.kind == "bars" and s.axis == side for s in series)
        lo, hi = _domain(vals, include_zero=has_bars or y_zero)
        axes[side] = _Scale(lo, hi, height - mb, mt)
        fmt = y_format if side == "left" else (y2_format or y_format)
        for t in nice_ticks(lo, hi):
            if not lo <= t <= hi:
                continue
            y = axes[side](t)
            if side == "left":
                body.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{width - mr}" y2="{y:.1f}" '
                            f'stroke="{GRID}"/>')
                body.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end" '
                            f'fill="{AXIS}">{escape(fmt(t))}</text>')
            else:
                body.append(f'<text x="{width - mr + 6}" y="{y + 4:.1f}" fill="{AXIS}">'
                            f'{escape(fmt(t))}</text>')
    # x ticks: at most ~10 labels
    span = x_hi - x_lo
    step = max(1.0, float(nice_ticks(0, span, 8)[1])) if span > 0 else 1.0
    t = math.ceil(x_lo / step) * step
    centre = x_slot / 2 if bars else 0.0  # a bar's label under its middle
    while t <= x_hi - centre:
        px = x(t + centre)
        body.append(f'<line x1="{px:.1f}" y1="{height - mb}" x2="{px:.1f}" '
                    f'y2="{height - mb + 4}" stroke="{AXIS}"/>')
        body.append(f'<text x="{px:.1f}" y="{height - mb + 16}" text-anchor="middle" '
                    f'fill="{AXIS}">{escape(x_format(t))}</text>')
        t += step
    body.append(f'<line x1="{ml}" y1="{height - mb}" x2="{width - mr}" y2="{height - mb}" '
                f'stroke="{AXIS}"/>')
    # bars first, lines over them
    n_bars = len(bars)
    slot_px = abs(x(x_lo + x_slot) - x(x_lo))
    for i, s in enumerate(bars):
        y = axes[s.axis]
        w = max(1.0, slot_px * 0.8 / n_bars)
        for j, (vx, vy) in enumerate(s.points):
            px = x(vx) + slot_px * 0.1 + i * w
            y0, y1 = y(0.0), y(vy)
            tip = f"<title>{escape(s.tips[j])}</title>" if s.tips else ""
            body.append(f'<rect x="{px:.1f}" y="{min(y0, y1):.1f}" width="{w:.1f}" '
                        f'height="{max(0.5, abs(y1 - y0)):.1f}" fill="{s.color}">{tip}</rect>')
    for s in series:
        if s.kind == "bars" or not s.points:
            continue
        y = axes[s.axis]
        pts: list[tuple[float, float]] = []
        for vx, vy in s.points:
            if s.kind == "step" and pts:
                pts.append((x(vx), pts[-1][1]))
            pts.append((x(vx), y(vy)))
        if s.kind == "step":
            pts.append((x(x_hi), pts[-1][1]))  # the last fee holds to the end
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" '
                    f'stroke-width="2"{dash}><title>{escape(s.name)}</title></polyline>')
        if s.tips:
            for (vx, vy), tip in zip(s.points, s.tips):
                body.append(f'<circle cx="{x(vx):.1f}" cy="{y(vy):.1f}" r="2.5" '
                            f'fill="{s.color}"><title>{escape(tip)}</title></circle>')
    body += _legend([(s.name, s.color, s.dashed) for s in series], ml, height - 12)
    return _svg(width, height, label, body)


@dataclass(frozen=True)
class BarRow:
    label: str
    positive: float  # drawn right of zero
    negative: float  # drawn left of zero (a magnitude, >= 0)
    mark: float  # a tick at this value (e.g. net)
    tip: str


def diverging_bars(rows: Sequence[BarRow], *, label: str, value_format: Format = plain,
                   names: tuple[str, str, str] = ("revenue", "costs", "net"),
                   colors: tuple[str, str, str] = ("#2f9e44", "#e03131", INK),
                   width: int = 880, row_height: int = 16) -> str:
    """One row per item: ``positive`` to the right, ``negative`` to the left."""
    if not rows:
        return _svg(width, 60, label, [f'<text x="10" y="30" fill="{AXIS}">no data</text>'])
    ml, mr, mt, mb = 150, 24, 8, 48
    height = mt + mb + row_height * len(rows)
    lo = -max((r.negative for r in rows), default=0.0)
    hi = max(max((r.positive for r in rows), default=0.0), max((r.mark for r in rows),
                                                                default=0.0))
    lo, hi = _domain([lo, hi, min((r.mark for r in rows), default=0.0)], include_zero=True)
    x = _Scale(lo, hi, ml, width - mr)
    body: list[str] = []
    for t in nice_ticks(lo, hi, 6):
        if lo <= t <= hi:
            px = x(t)
            body.append(f'<line x1="{px:.1f}" y1="{mt}" x2="{px:.1f}" '
                        f'y2="{height - mb}" stroke="{GRID}"/>')
            body.append(f'<text x="{px:.1f}" y="{height - mb + 14}" text-anchor="middle" '
                        f'fill="{AXIS}">{escape(value_format(t))}</text>')
    zero = x(0.0)
    for i, r in enumerate(rows):
        top = mt + i * row_height
        body.append(f'<text x="{ml - 6}" y="{top + row_height - 4}" text-anchor="end" '
                    f'fill="{INK}">{escape(r.label)}</text>')
        tip = f"<title>{escape(r.tip)}</title>"
        if r.positive > 0:
            body.append(f'<rect x="{zero:.1f}" y="{top + 2}" width="{x(r.positive) - zero:.1f}" '
                        f'height="{row_height - 4}" fill="{colors[0]}">{tip}</rect>')
        if r.negative > 0:
            left = x(-r.negative)
            body.append(f'<rect x="{left:.1f}" y="{top + 2}" width="{zero - left:.1f}" '
                        f'height="{row_height - 4}" fill="{colors[1]}">{tip}</rect>')
        mx = x(r.mark)
        body.append(f'<line x1="{mx:.1f}" y1="{top + 1}" x2="{mx:.1f}" '
                    f'y2="{top + row_height - 1}" stroke="{colors[2]}" stroke-width="2">'
                    f'{tip}</line>')
    body.append(f'<line x1="{zero:.1f}" y1="{mt}" x2="{zero:.1f}" y2="{height - mb}" '
                f'stroke="{AXIS}"/>')
    body += _legend(list(zip(names, colors, (False, False, False))), ml, height - 14)
    return _svg(width, height, label, body)


def scatter(points: Sequence[tuple[float, float, str]], *, label: str, x_name: str,
            y_name: str, value_format: Format = plain, width: int = 440,
            height: int = 300, color: str = "#1971c2") -> str:
    """Points (x, y, hover text) with the y = x diagonal: above it, better than foreseen."""
    if not points:
        return _svg(width, 60, label, [f'<text x="10" y="30" fill="{AXIS}">no data</text>'])
    ml, mr, mt, mb = 72, 16, 12, 40
    vals = [p[0] for p in points] + [p[1] for p in points]
    lo, hi = _domain(vals, include_zero=True)
    x = _Scale(lo, hi, ml, width - mr)
    y = _Scale(lo, hi, height - mb, mt)
    body: list[str] = []
    for t in nice_ticks(lo, hi):
        if lo <= t <= hi:
            body.append(f'<line x1="{ml}" y1="{y(t):.1f}" x2="{width - mr}" y2="{y(t):.1f}" '
                        f'stroke="{GRID}"/>')
            body.append(f'<text x="{ml - 6}" y="{y(t) + 4:.1f}" text-anchor="end" '
                        f'fill="{AXIS}">{escape(value_format(t))}</text>')
            body.append(f'<text x="{x(t):.1f}" y="{height - mb + 14}" text-anchor="middle" '
                        f'fill="{AXIS}">{escape(value_format(t))}</text>')
    body.append(f'<line x1="{x(lo):.1f}" y1="{y(lo):.1f}" x2="{x(hi):.1f}" y2="{y(hi):.1f}" '
                f'stroke="{AXIS}" stroke-dasharray="4 3"><title>realized = predicted'
                f'</title></line>')
    for px, py, tip in points:
        body.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="4" fill="{color}" '
                    f'fill-opacity="0.8"><title>{escape(tip)}</title></circle>')
    body.append(f'<text x="{(ml + width - mr) / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                f'fill="{INK}">{escape(x_name)}</text>')
    body.append(f'<text x="12" y="{(mt + height - mb) / 2:.1f}" text-anchor="middle" '
                f'fill="{INK}" transform="rotate(-90 12 {(mt + height - mb) / 2:.1f})">'
                f'{escape(y_name)}</text>')
    return _svg(width, height, label, body)
