"""``report.html`` of a study: pure functions from day statistics to one self-contained page (inline SVG and CSS;
no script, no network).

Plots (``<svg class="plot" data-plot="NAME">``): ``sitting-distribution`` and ``anterior-distribution`` (one dot
per wearer: the mean over valid days, stacked in bins) and ``ribbons`` (one row per wearer-day, the activity of
each minute over the local day).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np

from hipsense.report import COLOURS
from processing.activity import ACTIVITIES
from processing.days import DayParams, DayStats

WIDTH = 1000
LEFT = 150
RIGHT = 14
CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1040px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
svg.plot { display: block; margin: 8px 0 4px; } svg text { font-size: 11px; fill: #333; }
.grid { stroke: #ddd; stroke-width: 1; } .axis { stroke: #888; } .median { stroke: #222; stroke-dasharray: 4 3; }
table { border-collapse: collapse; font-size: 12px; } td, th { border-bottom: 1px solid #eee; padding: 2px 8px;
text-align: right; } th:first-child, td:first-child { text-align: left; } .small { color: #666; font-size: 12px; }
"""


def _svg(name: str, height: float, body: list[str], title: str) -> str:
    return (
        f'<svg class="plot" data-plot="{name}" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>{"".join(body)}</svg>'
    )


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def dot_histogram(name: str, values: Mapping[str, float], *, unit: str, colour: str) -> str:
    """One dot per wearer (``values``: wearer -> value), stacked in bins (about 40 across); the median dashed."""
    if not values:
        return _svg(name, 40, ['<text x="10" y="24">no wearer with a valid day</text>'], name)
    top_value = max(max(values.values()), 1e-3) * 1.1
    bin_width = _nice_step(top_value) / 5
    hi = top_value + bin_width
    n_bins = max(1, math.ceil(hi / bin_width))
    plot_w = WIDTH - 60 - RIGHT
    r = max(3.0, min(7.0, plot_w / n_bins / 2.2))
    stacks: dict[int, int] = {}
    dots = []
    for wearer, v in sorted(values.items(), key=lambda kv: (kv[1], kv[0])):
        b = min(int(max(v, 0.0) // bin_width), n_bins - 1)
        level = stacks.get(b, 0)
        stacks[b] = level + 1
        dots.append((wearer, v, b, level))
    top = 22
    height_levels = max(stacks.values())
    base = top + height_levels * 2 * r + 4

    def x(v: float) -> float:
        return 60 + plot_w * v / (n_bins * bin_width)

    body = [f'<line x1="60" y1="{base:.1f}" x2="{WIDTH - RIGHT}" y2="{base:.1f}" class="axis"/>']
    step = _nice_step(n_bins * bin_width)
    tick = 0.0
    while tick <= n_bins * bin_width + 1e-9:
        body.append(f'<text x="{x(tick):.1f}" y="{base + 14:.1f}" text-anchor="middle">{tick:g}</text>')
        tick += step
    for wearer, v, b, level in dots:
        cx = x((b + 0.5) * bin_width)
        cy = base - r - level * 2 * r
        body.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r * 0.9:.1f}" fill="{colour}">'
            f"<title>{html.escape(wearer)}: {v:.1f} {unit}</title></circle>"
        )
    median = float(np.median(list(values.values())))
    body.append(f'<line x1="{x(median):.1f}" y1="{top - 18}" x2="{x(median):.1f}" y2="{base:.1f}" class="median"/>')
    body.append(f'<text x="{x(median) + 4:.1f}" y="{top - 8}">median {median:.1f} {unit}</text>')
    body.append(f'<text x="{WIDTH - RIGHT}" y="{base + 28:.1f}" text-anchor="end">{html.escape(unit)}</text>')
    return _svg(name, base + 34, body, f"{name}: one dot per wearer")


def _nice_step(span: float) -> float:
    raw = span / 8.0
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def ribbons_svg(ribbons: Mapping[tuple[str, date], np.ndarray], valid: Mapping[tuple[str, date], bool]) -> str:
    """One row per wearer-day: the activity of each minute over the local day (blank: no data)."""
    row_h, gap, top = 10, 3, 18
    plot_w = WIDTH - LEFT - RIGHT
    keys = sorted(ribbons)
    bottom = top + len(keys) * (row_h + gap)
    body = []
    for h in range(0, 25, 3):
        xh = LEFT + plot_w * h / 24
        body.append(f'<line x1="{xh:.1f}" y1="{top - 4}" x2="{xh:.1f}" y2="{bottom}" class="grid"/>')
        body.append(f'<text x="{xh:.1f}" y="{top - 7}" text-anchor="middle">{h:02d}</text>')
    for i, key in enumerate(keys):
        wearer, day = key
        y = top + i * (row_h + gap)
        ok = valid.get(key, False)
        label = f"{wearer} {day.isoformat()}" + ("" if ok else " (invalid)")
        colour = "#222" if ok else "#999"
        body.append(
            f'<text x="{LEFT - 6}" y="{y + row_h - 1}" text-anchor="end" fill="{colour}">{html.escape(label)}</text>'
        )
        minutes = ribbons[key]
        n = minutes.shape[0]
        if n == 0:
            continue
        cut = np.flatnonzero(np.diff(minutes)) + 1
        for s, e in zip([0, *cut.tolist()], [*cut.tolist(), n], strict=True):
            a = int(minutes[s])
            if a < 0:
                continue
            x0 = LEFT + plot_w * s / 1440
            w = plot_w * (e - s) / 1440
            body.append(
                f'<rect x="{x0:.2f}" y="{y}" width="{w:.2f}" height="{row_h}" fill="{COLOURS[ACTIVITIES[a]]}"/>'
            )
    x = LEFT
    for name, c in COLOURS.items():
        body.append(f'<rect x="{x}" y="{bottom + 8}" width="10" height="10" fill="{c}"/>')
        body.append(f'<text x="{x + 14}" y="{bottom + 17}">{name}</text>')
        x += 90
    return _svg("ribbons", bottom + 26, body, "activity per minute of each wearer-day")


def study_html(
    days: Mapping[str, Sequence[DayStats]],
    ribbons: Mapping[tuple[str, date], np.ndarray],
    *,
    recordings: int,
    errors: Sequence[tuple[str, str]],
    params: DayParams,
) -> str:
    """The whole page. ``days``: wearer -> their days; ``ribbons``: (wearer, day) -> (minutes,) activity codes."""
    valid = {(w, d.day): d.valid for w, ds in days.items() for d in ds}
    n_days = len(valid)
    n_valid = sum(valid.values())
    sitting = {}
    anterior = {}
    for w, ds in days.items():
        v = [d for d in ds if d.valid]
        if v:
            sitting[w] = _mean([d.sitting_s / 3600.0 for d in v]) or 0.0
            anterior[w] = _mean([d.anterior_tilt_standing_s / 60.0 for d in v]) or 0.0
    rows = []
    for w in sorted(days):
        v = [d for d in days[w] if d.valid]

        def cell(values: Sequence[float | None], digits: int = 1) -> str:
            m = _mean(values)
            return "" if m is None else f"{m:.{digits}f}"

        rows.append(
            f"<tr><td>{html.escape(w)}</td><td>{len(v)} / {len(days[w])}</td>"
            f"<td>{cell([d.wear_s / 3600 for d in v])}</td><td>{cell([d.sitting_s / 3600 for d in v])}</td>"
            f"<td>{cell([d.long_bouts for d in v])}</td><td>{cell([d.breaks_per_sitting_h for d in v])}</td>"
            f"<td>{cell([d.anterior_tilt_standing_s / 60 for d in v])}</td>"
            f"<td>{cell([d.standing_tilt_median_deg for d in v])}</td>"
            f"<td>{cell([d.sitting_tilt_median_deg for d in v])}</td><td>{cell([d.exercise_s / 60 for d in v])}</td>"
            "</tr>"
        )
    error_list = "".join(f"<li>{html.escape(msg)}</li>" for _, msg in errors)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>hipsense study</title>'
        f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head><body>'
        "<h1>Study at a glance</h1>"
        f"<p>{len(days)} wearers, {recordings} recordings, {n_days} wearer-days of which {n_valid} valid "
        f"(at least {params.min_wear_h:g} h of wear); {len(errors)} with an error (see below).</p>"
        "<h2>Sitting per day (mean over valid days, hours; one dot per wearer)</h2>"
        + dot_histogram("sitting-distribution", sitting, unit="h/day", colour=COLOURS["sitting"])
        + f"<h2>Anterior tilt while standing (&gt;= {params.anterior_tilt_deg:g}°; mean over valid days, minutes)</h2>"
        + dot_histogram("anterior-distribution", anterior, unit="min/day", colour="#e0a030")
        + "<h2>Every wearer-day (local time, activity per minute)</h2>"
        + ribbons_svg(ribbons, valid)
        + "<h2>Wearers (means over valid days)</h2><table><tr><th>wearer</th><th>valid days</th><th>wear h</th>"
        "<th>sitting h</th><th>bouts &gt;= 30 min</th><th>breaks / sitting h</th><th>anterior min</th>"
        "<th>standing tilt °</th><th>sitting tilt °</th><th>exercise min</th></tr>"
        + "".join(rows)
        + "</table>"
        + (f"<h2>Errors</h2><ul>{error_list}</ul>" if errors else "")
        + '<p class="small">Made by hipsense batch; the figures are in days.csv and wearers.csv beside this page.</p>'
        "</body></html>\n"
    )
