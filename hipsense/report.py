"""The HTML report: pure functions from stored data to SVG and HTML strings (no I/O, no network, no JS).

Every plot is an inline ``<svg class="plot" data-plot="NAME">``: ``activity`` (the ribbon over the day),
``tilt`` (per-minute mean pelvic tilt with the neutral band), ``bouts`` (sitting bouts on the day's axis),
``hourly-sitting``, ``anterior`` (minutes of anterior tilt while standing per hour) and ``week`` (daily sitting
and anterior-tilt minutes with their trend lines).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hipsense.goals import GoalCheck, Progress
from hipsense.store import DayEpochs, DaySummary, StoredBout
from processing.activity import ACTIVITIES, SITTING, STANDING
from processing.samples import FloatArray

COLOURS = {
    "unknown": "#c8c8c8",
    "sitting": "#d9534f",
    "standing": "#3a87c8",
    "walking": "#4cae4c",
    "lying": "#8e6bbf",
}
WIDTH = 1000
LEFT = 48
RIGHT = 12
PLOT_W = WIDTH - LEFT - RIGHT


@dataclass(frozen=True)
class DayView:
    """What the report shows of one day."""

    summary: DaySummary
    epochs: DayEpochs
    bouts: list[StoredBout]
    alerts: list[tuple[str, str, str]]
    checks: list[GoalCheck]


def _x(sod: float) -> float:
    return LEFT + PLOT_W * sod / 86400.0


def _hm(seconds: float) -> str:
    m = round(seconds / 60.0)
    return f"{m // 60}:{m % 60:02d}"


def _hour_axis(top: float, bottom: float) -> list[str]:
    out = []
    for h in range(0, 25, 3):
        x = _x(h * 3600.0)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{h:02d}</text>')
    return out


def _svg(name: str, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg class="plot" data-plot="{name}" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>{"".join(body)}</svg>'
    )


def _runs(epochs: DayEpochs) -> list[tuple[float, float, int]]:
    """(start sod, end sod, activity) of runs of equal activity over contiguous epochs."""
    if len(epochs.sod) == 0:
        return []
    sod, act = epochs.sod, epochs.activity
    cut = np.flatnonzero((np.diff(act) != 0) | (np.diff(sod) > 1.5)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(sod)]])
    return [(float(sod[s]), float(sod[e - 1]) + 1.0, int(act[s])) for s, e in zip(starts, ends, strict=True)]


def activity_ribbon_svg(epochs: DayEpochs) -> str:
    """The day as a coloured ribbon, one colour per activity; no data is left blank."""
    top, h = 8, 34
    body = _hour_axis(top, top + h)
    for start, end, a in _runs(epochs):
        w = max(_x(end) - _x(start), 0.5)
        name = ACTIVITIES[a]
        body.append(
            f'<rect x="{_x(start):.2f}" y="{top}" width="{w:.2f}" height="{h}" fill="{COLOURS[name]}">'
            f"<title>{name} {_hm(start)}-{_hm(end)}</title></rect>"
        )
    x = LEFT
    for name, colour in COLOURS.items():
        body.append(f'<rect x="{x}" y="{top + h + 22}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{x + 14}" y="{top + h + 31}">{name}</text>')
        x += 90
    return _svg("activity", top + h + 40, body, "activity over the day")


def minute_means(sod: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-minute NaN-aware means: (minute start sod, mean); minutes without a finite value are NaN."""
    minute = (sod // 60).astype(np.int64)
    ok = np.isfinite(values)
    total = np.bincount(minute[ok], weights=values[ok], minlength=1440)[:1440]
    count = np.bincount(minute[ok], minlength=1440)[:1440]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    minutes = np.arange(1440, dtype=np.float64) * 60.0
    return minutes, mean.astype(np.float64)


def tilt_svg(epochs: DayEpochs, *, band_deg: float = 5.0, anterior_deg: float = 10.0, span_deg: float = 30.0) -> str:
    """Per-minute mean tilt (anterior up) with the neutral band (±band_deg) and the anterior threshold."""
    top, h = 8, 180

    def y(v: float) -> float:
        return top + h * (span_deg - min(max(v, -span_deg), span_deg)) / (2 * span_deg)

    body = _hour_axis(top, top + h)
    body.append(
        f'<rect x="{LEFT}" y="{y(band_deg):.1f}" width="{PLOT_W}" height="{y(-band_deg) - y(band_deg):.1f}" '
        'class="band"><title>neutral band</title></rect>'
    )
    body.append(
        f'<line x1="{LEFT}" y1="{y(anterior_deg):.1f}" x2="{WIDTH - RIGHT}" y2="{y(anterior_deg):.1f}" class="thr"/>'
    )
    for v in (-span_deg, -15.0, 0.0, 15.0, span_deg):
        body.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:+.0f}°</text>')
    t, mean = minute_means(epochs.sod, epochs.tilt_deg)
    ok = np.isfinite(mean)
    cut = np.flatnonzero(np.diff(ok.astype(np.int8)) != 0) + 1
    for seg in np.split(np.arange(len(t)), cut):
        if len(seg) and ok[seg[0]]:
            pts = " ".join(f"{_x(t[i] + 30):.1f},{y(float(mean[i])):.1f}" for i in seg)
            if len(seg) == 1:
                pts += f" {_x(t[seg[0]] + 60):.1f},{y(float(mean[seg[0]])):.1f}"
            body.append(f'<polyline points="{pts}" class="tilt"/>')
    return _svg("tilt", top + h + 20, body, "pelvic tilt (degrees, anterior up) with the neutral band")


def bouts_svg(bouts: Sequence[StoredBout], *, long_s: float = 1800.0) -> str:
    """Sitting bouts on the day's axis; bouts of ``long_s`` or more are drawn darker."""
    top, h = 8, 30
    body = _hour_axis(top, top + h)
    body.append(f'<rect x="{LEFT}" y="{top}" width="{PLOT_W}" height="{h}" class="track"/>')
    for b in bouts:
        cls = "bout long" if b.duration_s >= long_s else "bout"
        w = max(_x(b.start_sod + b.duration_s) - _x(b.start_sod), 1.0)
        body.append(
            f'<rect x="{_x(b.start_sod):.2f}" y="{top + 3}" width="{w:.2f}" height="{h - 6}" class="{cls}">'
            f"<title>{_hm(b.start_sod)} sitting {_hm(b.duration_s)} ({b.breaks} breaks)</title></rect>"
        )
    return _svg("bouts", top + h + 20, body, "sitting bouts")


def hourly(epochs: DayEpochs, mask: np.ndarray[tuple[int], np.dtype[np.bool_]]) -> FloatArray:
    """Minutes per local hour (24,) of the epochs where ``mask`` holds."""
    hour = np.clip((epochs.sod // 3600).astype(np.int64), 0, 23)
    return np.bincount(hour[mask], minlength=24)[:24] / 60.0


def _hour_bars(name: str, minutes: FloatArray, colour: str, title: str, *, full: float = 60.0) -> str:
    top, h = 8, 110
    body = _hour_axis(top, top + h)
    scale = max(full, float(minutes.max(initial=0.0)))
    for v in (0.0, scale / 2, scale):
        yy = top + h - h * v / scale
        body.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for hr, v in enumerate(minutes.tolist()):
        bh = h * v / scale
        x = _x(hr * 3600.0) + 2
        body.append(
            f'<rect x="{x:.1f}" y="{top + h - bh:.1f}" width="{PLOT_W / 24 - 4:.1f}" height="{bh:.1f}" '
            f'fill="{colour}"><title>{hr:02d}:00 {v:.0f} min</title></rect>'
        )
    return _svg(name, top + h + 20, body, title)


def hourly_sitting_svg(epochs: DayEpochs) -> str:
    return _hour_bars(
        "hourly-sitting", hourly(epochs, epochs.activity == SITTING), COLOURS["sitting"], "minutes of sitting per hour"
    )


def anterior_svg(epochs: DayEpochs, *, anterior_deg: float = 10.0) -> str:
    with np.errstate(invalid="ignore"):
        mask = (epochs.activity == STANDING) & (epochs.tilt_deg >= anterior_deg)
    return _hour_bars(
        "anterior",
        hourly(epochs, mask),
        "#e08a1e",
        f"minutes of anterior tilt (>= {anterior_deg:g}°) while standing, per hour",
        full=10.0,
    )


def trend(values: Sequence[float]) -> tuple[float, float]:
    """Least-squares line (slope per day, intercept) through values at x = 0, 1, ...; flat for < 2 values."""
    if len(values) < 2:
        return 0.0, float(values[0]) if values else 0.0
    slope, intercept = np.polyfit(np.arange(len(values), dtype=float), np.asarray(values, dtype=float), 1)
    return float(slope), float(intercept)


def week_svg(days: Sequence[DaySummary], *, max_sitting_min: float | None = None) -> str:
    """Daily sitting hours (bars) and anterior-tilt minutes (dots), each with its trend line."""
    top, h = 20, 200
    n = max(len(days), 1)
    slot = PLOT_W / n
    sit_h = [d.sitting_s / 3600.0 for d in days]
    ant_m = [d.anterior_tilt_standing_s / 60.0 for d in days]
    sit_top = max([*sit_h, (max_sitting_min or 0) / 60.0, 1.0]) * 1.1
    ant_top = max([*ant_m, 5.0]) * 1.1
    body = [
        f'<text x="{LEFT}" y="12" class="key">bars: sitting, h (left) · '
        "dots: anterior tilt standing, min (right)</text>"
    ]
    for v in (0.0, sit_top / 2, sit_top):
        yy = top + h - h * v / sit_top
        body.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}" class="grid"/>')
        body.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:.1f}</text>')
        body.append(f'<text x="{WIDTH - RIGHT}" y="{yy - 3:.1f}" text-anchor="end">{v / sit_top * ant_top:.0f}</text>')
    if max_sitting_min is not None:
        yy = top + h - h * (max_sitting_min / 60.0) / sit_top
        body.append(
            f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}" class="thr"><title>goal</title></line>'
        )
    for i, d in enumerate(days):
        x = LEFT + i * slot
        bh = h * sit_h[i] / sit_top
        body.append(
            f'<rect x="{x + slot * 0.2:.1f}" y="{top + h - bh:.1f}" width="{slot * 0.6:.1f}" height="{bh:.1f}" '
            f'fill="{COLOURS["sitting"]}"><title>{d.day} sitting {_hm(d.sitting_s)}</title></rect>'
        )
        cy = top + h - h * ant_m[i] / ant_top
        body.append(
            f'<circle cx="{x + slot / 2:.1f}" cy="{cy:.1f}" r="5" fill="#e08a1e">'
            f"<title>{d.day} anterior tilt {ant_m[i]:.0f} min</title></circle>"
        )
        body.append(f'<text x="{x + slot / 2:.1f}" y="{top + h + 16}" text-anchor="middle">{d.day:%a %d %b}</text>')
    for values, scale, cls in ((sit_h, sit_top, "trend sit"), (ant_m, ant_top, "trend ant")):
        if len(values) >= 2:
            slope, icpt = trend(values)
            y0 = top + h - h * icpt / scale
            y1 = top + h - h * (icpt + slope * (len(values) - 1)) / scale
            x0, x1 = LEFT + slot / 2, LEFT + slot * (len(values) - 0.5)
            body.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" class="{cls}"/>')
    return _svg("week", top + h + 26, body, "the week: sitting and anterior tilt with trends")


CSS = """
body{font:15px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:14px 0 4px}
svg.plot{display:block;margin:4px 0 10px;font-size:11px}svg text{fill:#444}
.grid{stroke:#e4e4e4}.band{fill:#5cb85c;fill-opacity:.16}.thr{stroke:#e08a1e;stroke-dasharray:5 4}
.tilt{fill:none;stroke:#2a5d9f;stroke-width:1.6}.track{fill:#f5f5f5}.bout{fill:#e79a97}.bout.long{fill:#b52b27}
.trend{stroke-width:2;stroke-dasharray:8 4}.trend.sit{stroke:#7a1f1c}.trend.ant{stroke:#a35d0c}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.met{color:#2e7d32}.missed{color:#c62828}.small{color:#666;font-size:13px}
"""


def _summary_table(days: Sequence[DaySummary]) -> str:
    rows = [
        "<tr><th>day</th><th>worn</th><th>sitting</th><th>standing</th><th>walking</th><th>lying</th>"
        "<th>longest bout</th><th>anterior tilt</th><th>exercise</th><th>alerts</th></tr>"
    ]
    for d in days:
        rows.append(
            f"<tr><td>{d.day:%a %Y-%m-%d}</td><td>{_hm(d.worn_s)}</td><td>{_hm(d.sitting_s)}</td>"
            f"<td>{_hm(d.standing_s)}</td><td>{_hm(d.walking_s)}</td><td>{_hm(d.lying_s)}</td>"
            f"<td>{_hm(d.longest_bout_s)}</td><td>{d.anterior_tilt_standing_s / 60:.0f} min</td>"
            f"<td>{d.exercise_s / 60:.0f} min</td><td>{d.alerts}</td></tr>"
        )
    return f"<table>{''.join(rows)}</table>"


def _checks_html(checks: Sequence[GoalCheck]) -> str:
    if not checks:
        return ""
    items = []
    for c in checks:
        sign = "≤" if c.kind == "max" else "≥"
        cls, word = ("met", "met") if c.met else ("missed", "missed")
        items.append(
            f'<li class="{cls}">{html.escape(c.label)}: {c.value_min:.0f} min ({sign} {c.target_min:g}) — {word}</li>'
        )
    return f"<ul>{''.join(items)}</ul>"


def _progress_html(p: Progress) -> str:
    head = f"<p>{p.days_elapsed} days since {p.start}" if p.start else "<p>no days yet"
    if p.end is not None:
        head += f"; {p.days_left} days left to {p.end}"
    rows = ["<tr><th>goal</th><th>target</th><th>days met</th><th>last 7 days (mean)</th><th>streak</th><th></th></tr>"]
    for g in p.goals:
        sign = "≤" if g.kind == "max" else "≥"
        state = '<span class="met">on track</span>' if g.on_track else '<span class="missed">not yet</span>'
        rows.append(
            f"<tr><td>{html.escape(g.label)}</td><td>{sign} {g.target_min:g} min</td>"
            f"<td>{g.days_met} / {g.days_counted}</td><td>{g.last7_mean_min:.0f} min</td><td>{g.streak}</td>"
            f"<td>{state}</td></tr>"
        )
    return f"{head}.</p><table>{''.join(rows)}</table>"


def day_section(view: DayView, *, anterior_deg: float = 10.0, band_deg: float = 5.0) -> str:
    s = view.summary
    alerts = "".join(
        f"<li>{html.escape(t[11:16])} {html.escape(kind)}: {html.escape(msg)}</li>" for t, kind, msg in view.alerts
    )
    return (
        f'<section class="day" data-day="{s.day}"><h2>{s.day:%A %Y-%m-%d}</h2>'
        f"<p>Sitting {_hm(s.sitting_s)} of {_hm(s.worn_s)} worn; longest bout {_hm(s.longest_bout_s)}; "
        f"anterior tilt while standing {s.anterior_tilt_standing_s / 60:.0f} min.</p>"
        f"{_checks_html(view.checks)}"
        f"<h3>Activity</h3>{activity_ribbon_svg(view.epochs)}"
        f"<h3>Pelvic tilt (per minute; green: neutral ±{band_deg:g}°, dashed: anterior {anterior_deg:g}°)</h3>"
        f"{tilt_svg(view.epochs, band_deg=band_deg, anterior_deg=anterior_deg)}"
        f"<h3>Sitting bouts</h3>{bouts_svg(view.bouts)}"
        f"<h3>Sitting per hour (min)</h3>{hourly_sitting_svg(view.epochs)}"
        f"<h3>Anterior tilt while standing per hour (min)</h3>{anterior_svg(view.epochs, anterior_deg=anterior_deg)}"
        + (f'<h3>Alerts</h3><ul class="small">{alerts}</ul>' if alerts else "")
        + "</section>"
    )


def render_html(
    *,
    title: str,
    views: Sequence[DayView],
    week: Sequence[DaySummary] = (),
    progress: Progress | None = None,
    max_sitting_min: float | None = None,
    anterior_deg: float = 10.0,
    note: str = "",
) -> str:
    """The whole page: a week view (when ``week`` is given), goal progress, then one section per day."""
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if note:
        parts.append(f'<p class="small">{html.escape(note)}</p>')
    if week:
        s_slope, _ = trend([d.sitting_s / 60.0 for d in week])
        a_slope, _ = trend([d.anterior_tilt_standing_s / 60.0 for d in week])
        parts.append("<h2>The week</h2>")
        parts.append(week_svg(week, max_sitting_min=max_sitting_min))
        parts.append(
            f'<p class="small">Trend: sitting {s_slope:+.0f} min/day per day, anterior tilt {a_slope:+.1f} '
            "min/day per day.</p>"
        )
        parts.append(_summary_table(week))
    if progress is not None and progress.goals:
        parts.append("<h2>Goals</h2>" + _progress_html(progress))
    parts.extend(day_section(v, anterior_deg=anterior_deg) for v in views)
    parts.append("</body></html>\n")
    return "".join(parts)


def terminal_summary(days: Sequence[DaySummary], progress: Progress | None = None) -> str:
    """A few lines for the terminal: one per day, then the goals."""
    lines = [f"{'day':<15}{'worn':>7}{'sitting':>9}{'longest':>9}{'anterior':>10}{'alerts':>8}"]
    for d in days:
        lines.append(
            f"{d.day:%a %Y-%m-%d} {_hm(d.worn_s):>6}{_hm(d.sitting_s):>9}{_hm(d.longest_bout_s):>9}"
            f"{d.anterior_tilt_standing_s / 60:>6.0f} min{d.alerts:>8}"
        )
    if progress is not None:
        for g in progress.goals:
            sign = "<=" if g.kind == "max" else ">="
            lines.append(
                f"goal {g.label} {sign} {g.target_min:g} min: met {g.days_met}/{g.days_counted} days, "
                f"last 7 days {g.last7_mean_min:.0f} min, {'on track' if g.on_track else 'not yet'}"
            )
        if progress.end is not None:
            lines.append(f"{progress.days_left} days left to {progress.end}")
    return "\n".join(lines)
