"""The report: a simulated week through ``analyze --store`` gives a week page with every plot, and the page
renders in headless Chromium (when Debian's chromium is installed)."""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from hipsense.cli import main
from hipsense.commands import report as report_cmd
from hipsense.report import activity_ribbon_svg, minute_means, tilt_svg, trend
from hipsense.store import DayEpochs, HistoryStore
from processing.errors import ConfigError, HipsenseError

PLOTS = ("activity", "tilt", "bouts", "hourly-sitting", "anterior")
DAYS = [date(2026, 1, d) for d in range(5, 12)]


def _scenario(i: int) -> str:
    # A short morning per day; the first sitting bout grows over the week, the anterior tilt shrinks.
    return (
        f"stand 40, walk 3min, sit {20 + 5 * i}min, stand {4 - i * 0.4:.1f}min tilt=14, walk 4min, sit 15min, "
        "stand 2min, walk 2min"
    )


def report(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["report", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Seven simulated days (25 Hz, about 50 min each) through simulate and ``analyze --store``."""
    root = tmp_path_factory.mktemp("week")
    db = root / "history.sqlite3"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HIPSENSE_HOME", str(root / "home"))
        for i, day in enumerate(DAYS):
            rec = root / f"{day}.csv.gz"
            start = f"{day}T0{7 + i % 3}:30:00+01:00"
            sim = ["simulate", "--scenario", _scenario(i), "--seed", str(i), "--rate", "25"]
            assert main([*sim, "--start", start, "--out", str(rec), "--no-progress"]) == 0
            analyze = ["analyze", str(rec), "--timeline", str(root / f"{day}.timeline.csv"), "--no-progress"]
            assert main([*analyze, "--store", str(db)]) == 0
        yield db


def test_week_in_the_store(week: Path) -> None:
    with HistoryStore(week) as store:
        days = store.days()
        assert [d.day for d in days] == DAYS
        for i, d in enumerate(days):
            assert abs(d.worn_s - 60 * (40 / 60 + 50 + 4.6 * i)) < 120
            # the first bout grows 5 min a day: the longest bout follows it (within the classifier's edges)
            assert abs(d.longest_bout_s - 60 * (20 + 5 * i)) < 90
        assert days[0].anterior_tilt_standing_s > days[-1].anterior_tilt_standing_s


def svg_plots(page: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for m in re.finditer(r'<svg class="plot" data-plot="([a-z-]+)"[^>]*>(.*?)</svg>', page, re.S):
        found.setdefault(m.group(1), []).append(m.group(2))
    return found


def test_week_report_has_every_plot(
    week: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path / "home"))
    goals = tmp_path / "goals.toml"
    # the bout goal is not 30 min: equal to the Wednesday bout (30 min), the result hung on the seconds at its edges
    goals.write_text("max_sitting_min = 40\nmax_bout_min = 32\nmax_anterior_tilt_min = 2\nend = 2026-02-01\n")
    out = tmp_path / "week.html"
    assert report("--week", "--store", str(week), "--goals", str(goals), "--out", str(out)) == 0
    page = out.read_text(encoding="utf-8")
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert "<script" not in page
    plots = svg_plots(page)
    assert len(plots["week"]) == 1
    assert len(re.findall(r"<rect ", plots["week"][0])) == 7  # a bar per day
    assert len(re.findall(r"<circle ", plots["week"][0])) == 7
    assert plots["week"][0].count('class="trend') == 2
    for name in PLOTS:
        assert len(plots[name]) == 7, name
    for body in plots["activity"]:
        assert 'fill="#d9534f"' in body and 'fill="#4cae4c"' in body  # sitting and walking drawn
    for body in plots["tilt"]:
        assert 'class="band"' in body
        points = re.findall(r'<polyline points="([^"]+)"', body)
        assert points and sum(len(p.split()) for p in points) >= 40  # about 50 minutes of per-minute means
    for body in plots["bouts"]:
        assert len(re.findall(r'class="bout', body)) >= 1
    for body in plots["hourly-sitting"] + plots["anterior"]:
        heights = [float(h) for h in re.findall(r'height="([0-9.]+)" fill', body)]
        assert len(heights) == 24 and max(heights) > 0
    assert "days left to 2026-02-01" in page
    text = capsys.readouterr().out
    assert text.count("2026-01-") >= 7 and "goal longest sitting bout <= 32 min: met 3/7 days" in text


def test_day_report_and_errors(week: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path / "home"))
    out = tmp_path / "day.html"
    assert report("--day", "2026-01-07", "--store", str(week), "--out", str(out)) == 0
    plots = svg_plots(out.read_text(encoding="utf-8"))
    assert "week" not in plots and all(len(plots[n]) == 1 for n in PLOTS)
    with pytest.raises(HipsenseError, match="nothing stored for 2026-02-01"):
        report("--day", "2026-02-01", "--store", str(week), "--out", str(out))
    with pytest.raises(ConfigError, match="no such history store"):
        report("--store", str(tmp_path / "missing.sqlite3"), "--out", str(out))


def test_ribbon_and_tilt_from_plain_data() -> None:
    sod = np.arange(3600.0, 3600.0 + 600)
    act = np.repeat(np.array([1, 2, 3], dtype=np.int8), 200)
    tilt = np.concatenate([np.full(200, -20.0), np.full(200, np.nan), np.full(200, 5.0)])
    epochs = DayEpochs(date(2026, 1, 5), sod, act, tilt)
    assert activity_ribbon_svg(epochs).count("<rect ") == 3 + 5  # three runs and the legend
    _, mean = minute_means(sod, tilt)
    assert mean[60] == -20.0 and np.isnan(mean[64]) and mean[69] == 5.0
    # the minute with both sitting and gap epochs keeps the mean of its finite values
    assert mean[63] == -20.0
    assert tilt_svg(epochs).count("<polyline") == 2  # broken at the gap
    assert trend([1.0, 2.0, 3.0]) == pytest.approx((1.0, 1.0))


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the raw scanlines (filter bytes included) of an 8-bit RGB/RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(week: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path / "home"))
    out = tmp_path / "week.html"
    assert report("--week", "--store", str(week), "--out", str(out)) == 0
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        "--enable-logging=stderr",
        "--v=0",
        out.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CONSOLE" not in proc.stderr and "Uncaught" not in proc.stderr, proc.stderr[-2000:]
    width, height, raw = _png_pixels(shot)
    assert (width, height) == (1200, 2000)
    # Not a blank page: the decompressed scanlines hold many distinct byte values (colours of the plots),
    # and the page compresses far less well than a single colour would.
    assert len(set(raw[: len(raw) // 2])) > 50
    assert shot.stat().st_size > 20_000
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
