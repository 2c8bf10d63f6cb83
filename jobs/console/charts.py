"""Charts as SVG, drawn on the server: no chart library, no script, nothing from a CDN, and the page
works offline and under a strict Content-Security-Policy. Colours come from console.css classes, so
light and dark themes both apply. Every label is escaped; each bar carries a <title> (its tooltip)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 160, 44, 20, 8


def _nice(top: float) -> float:
    """A round axis maximum at or above `top` (1, 2, 5 x 10^n)."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 5, 10):
        if step * power >= top:
            return float(step * power)
    return float(10 * power)


def _label(start: float, hourly: bool) -> str:
    when = dt.datetime.fromtimestamp(start, dt.timezone.utc)
    return when.strftime("%H:00" if hourly else "%H:%M")


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def throughput(points: Sequence[tuple[float, int, int]], hourly: bool = False, title: str = "") -> SafeString:
    """Stacked bars: succeeded (below) and failed (above) per minute or per hour, oldest left."""
    n = max(1, len(points))
    top = _nice(max([ok + failed for _, ok, failed in points] or [0]))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    slot = plot_w / n
    out = [f'<svg class="jobs-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
           f'<title>{escape(title)}</title>',
           f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}"/>',
           f'<text class="tick" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{_number(top)}</text>',
           f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>']
    for i, (start, ok, failed) in enumerate(points):
        x = LEFT + i * slot
        w = max(1.0, slot - 1)
        ok_h = plot_h * ok / top
        failed_h = plot_h * failed / top
        tip = f"{_label(start, hourly)} UTC: {ok} succeeded, {failed} failed"
        out.append(f'<g><title>{escape(tip)}</title>'
                   f'<rect class="ok" x="{x:.1f}" y="{TOP + plot_h - ok_h:.1f}" width="{w:.1f}" height="{ok_h:.1f}"/>'
                   f'<rect class="failed" x="{x:.1f}" y="{TOP + plot_h - ok_h - failed_h:.1f}" width="{w:.1f}" '
                   f'height="{failed_h:.1f}"/></g>')
        if i % max(1, n // 6) == 0:
            out.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 4}">{_label(start, hourly)}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 (every text above is escaped or a number)


def heatmap(starts: Sequence[float], counts: Sequence[Sequence[int]], bounds: Sequence[float],
            p95: Sequence[float | None], title: str = "") -> SafeString:
    """Run times over time (Sidekiq's metrics heat map): a column per minute, a row per histogram
    bucket (fast at the bottom), darker where more runs fell; the p95 as a line over it. A deploy
    that made a task slower shows as the dark band moving up."""
    columns, rows = max(1, len(starts)), len(bounds) + 1
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    cw, rh = plot_w / columns, plot_h / rows
    peak = max([max(c) for c in counts if c] or [0]) or 1
    out = [f'<svg class="jobs-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
           f'<title>{escape(title)}</title>']
    names = [*(_seconds(b) for b in bounds), "more"]
    for r in range(0, rows, max(1, rows // 5)):
        out.append(f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h - r * rh - 1:.1f}" text-anchor="end">'
                   f'{escape(names[r])}</text>')
    for i, (start, column) in enumerate(zip(starts, counts, strict=True)):
        x = LEFT + i * cw
        for r, n in enumerate(column):
            if n:
                level = 0.15 + 0.85 * n / peak
                tip = f"{_label(start, False)} UTC: {n} run(s) up to {names[r]}"
                out.append(f'<rect class="heat" x="{x:.1f}" y="{TOP + plot_h - (r + 1) * rh:.1f}" '
                           f'width="{max(1.0, cw - 0.5):.1f}" height="{rh:.1f}" fill-opacity="{level:.2f}">'
                           f'<title>{escape(tip)}</title></rect>')
        if i % max(1, columns // 6) == 0:
            out.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 4}">{_label(start, False)}</text>')
    line = [(LEFT + (i + 0.5) * cw, TOP + plot_h - _row(v, bounds) * rh) for i, v in enumerate(p95) if v is not None]
    if len(line) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
        out.append(f'<polyline class="p95" points="{path}"><title>p95</title></polyline>')
    out.append(f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}"/></svg>')
    return mark_safe("".join(out))  # noqa: S308 (every text above is escaped or a number)


def _row(seconds: float, bounds: Sequence[float]) -> float:
    """Where a duration sits on the heat map's rows (fractional, log-interpolated in its bucket)."""
    for i, bound in enumerate(bounds):
        if seconds <= bound:
            low = bounds[i - 1] if i else bound / 2
            span = math.log(bound) - math.log(low)
            return i + (math.log(max(seconds, low)) - math.log(low)) / span if span else float(i)
    return float(len(bounds)) + 0.5


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:g} ms"
    if value < 60:
        return f"{value:g} s"
    return f"{value / 60:g} min"
