"""``hipsense batch`` over a small simulated study: tables, joined recordings, errors, resume, and the same files
from 1 or 2 worker processes and from a Dask cluster."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hipsense.cli import main
from sensor.recording import write_recording
from sensor.simulate import SensorModel, parse_scenario, simulate

MIN_WEAR = ["--min-wear-h", "0.1"]  # the study's recordings last minutes, not hours
PATTERN = ["--wearer-from", r"(?P<wearer>subj\d+)_"]


def sim(
    out: Path, *, wearer: str, start: str, scenario: str = "random", minutes: float = 8, seed: int = 1, truth=False
):
    args = ["simulate", "--out", str(out), "--wearer", wearer, "--start", start, "--seed", str(seed), "--rate", "50"]
    args += ["--scenario", scenario, "--minutes", str(minutes), "--no-progress"]
    assert main([*args] if truth else [*args, "--no-truth"]) == 0


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    rec = root / "recordings"
    (rec / "a").mkdir(parents=True)
    # Wearer a, day 1: two files that continue each other, sitting across the boundary (one 10 min bout).
    sim(rec / "a/a_1a.hsb", wearer="a", start="2026-01-05T08:00:00+01:00", scenario="stand 20, walk 60, sit 280")
    sim(rec / "a/a_1b.hsb", wearer="a", start="2026-01-05T08:06:00+01:00", scenario="sit 300, walk 60, stand 20")
    sim(rec / "a/a_2.hsb", wearer="a", start="2026-01-06T09:00:00+01:00", seed=2)
    # Wearer b, with the simulator's truth file beside it (not a recording).
    sim(rec / "b_1.csv.gz", wearer="b", start="2026-01-05T10:00:00+01:00", seed=3, truth=True)
    # No wearer in the metadata: --wearer-from finds it in the file name.
    walk_sit = parse_scenario("stand 20, walk 60, sit 200, stand 60, walk 60, sit 80")
    samples, _ = simulate(walk_sit, SensorModel(rate_hz=50.0, mounting_deg="random"), seed=4)
    write_recording(rec / "subj7_x.csv", [samples], metadata={"start": "2026-01-05T11:00:00+01:00", "rate_hz": "50"})
    # A file that is not a recording, and one cut off in the middle (kept up to the cut, and reported).
    (rec / "bad.hsb").write_bytes(b"not a recording at all\n" * 40)
    sim(root / "whole.hsb", wearer="c", start="2026-01-05T12:00:00+01:00", seed=5, minutes=25)
    data = (root / "whole.hsb").read_bytes()
    (rec / "cut.hsb").write_bytes(data[: len(data) * 3 // 4])
    return rec


def batch(inputs: list[str], out: Path, *extra: str) -> int:
    return main(["batch", *inputs, "--out", str(out), "--no-progress", *MIN_WEAR, *PATTERN, *extra])


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def user_files(out: Path) -> dict[str, bytes]:
    """Every output a person reads (the resume state in .batch/ is internal)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".batch" not in p.relative_to(out).parts
    }


@pytest.fixture(scope="module")
def two_workers(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out2")
    assert batch([str(study)], out, "--jobs", "2") == 1  # errors.csv lists the bad files
    return out


def test_the_study_tables(two_workers, study):
    out = two_workers
    days = {(r["wearer"], r["date"]): r for r in rows(out / "days.csv")}
    assert sorted(days) == [
        ("a", "2026-01-05"),
        ("a", "2026-01-06"),
        ("b", "2026-01-05"),
        ("c", "2026-01-05"),
        ("subj7", "2026-01-05"),
    ]
    a1 = days[("a", "2026-01-05")]
    # The two files of wearer a's first day are one day, and the sitting across their boundary is one bout.
    assert float(a1["recorded_min"]) == pytest.approx(6 + 380 / 60, abs=0.05)
    assert 9.0 <= float(a1["longest_bout_min"]) <= 10.0 and a1["sitting_bouts"] == "1"
    for name in ("a_1a", "a_1b"):
        (summary,) = (out / "recordings/a").glob(f"{name}.*.summary.json")
        assert max(b["duration_s"] for b in json.loads(summary.read_text())["sitting_bouts"]) <= 330
    for r in days.values():
        assert r["valid"] == "1"
        wear = float(r["wear_min"])
        parts = sum(float(r[f"{k}_min"]) for k in ("sitting", "standing", "walking", "lying"))
        assert wear == pytest.approx(parts, abs=0.05)
        assert float(r["nonwear_min"]) == pytest.approx(1440 - wear, abs=0.05)
    wearers = {r["wearer"]: r for r in rows(out / "wearers.csv")}
    assert wearers["a"]["days"] == "2" and wearers["a"]["valid_days"] == "2"
    mean = (float(days[("a", "2026-01-05")]["sitting_min"]) + float(days[("a", "2026-01-06")]["sitting_min"])) / 2
    assert float(wearers["a"]["mean_sitting_min"]) == pytest.approx(mean, abs=0.01)
    recs = {Path(r["path"]).name: r for r in rows(out / "recordings.csv")}
    assert sorted(recs) == ["a_1a.hsb", "a_1b.hsb", "a_2.hsb", "b_1.csv.gz", "cut.hsb", "subj7_x.csv"]
    assert recs["subj7_x.csv"]["wearer"] == "subj7" and recs["subj7_x.csv"]["wearer_from"] == "pattern"
    assert recs["a_2.hsb"]["wearer_from"] == "metadata" and recs["cut.hsb"]["status"] == "partial"
    for r in recs.values():
        assert (out / r["timeline"]).read_text().startswith("t,activity,tilt_deg,")
        assert json.loads((out / r["summary"]).read_text())["recording"]["path"] == r["path"]


def test_bad_files_are_listed_with_one_line_and_the_rest_goes_on(two_workers, study):
    errors = {Path(r["path"]).name: r["error"] for r in rows(two_workers / "errors.csv")}
    assert sorted(errors) == ["bad.hsb", "cut.hsb"]
    assert "bad magic" in errors["bad.hsb"]
    assert "kept the" in errors["cut.hsb"] and "epochs read before" in errors["cut.hsb"]
    assert all("\n" not in e and "Traceback" not in e for e in errors.values())


def test_days_agree_with_analyze_summary(two_workers, study, tmp_path):
    summary, timeline = tmp_path / "s.json", tmp_path / "t.csv"
    assert main(["analyze", str(study / "b_1.csv.gz"), "--timeline", str(timeline), "--summary", str(summary)]) == 0
    (day,) = json.loads(summary.read_text())["days"]
    (row,) = [r for r in rows(two_workers / "days.csv") if r["wearer"] == "b"]
    for key in ("sitting", "standing", "walking", "lying", "wear", "nonwear", "anterior_tilt_standing", "exercise"):
        assert float(row[f"{key}_min"]) * 60 == pytest.approx(day[f"{key}_s"], abs=0.6), key
    assert float(row["longest_bout_min"]) * 60 == pytest.approx(day["longest_bout_s"], abs=0.6)
    assert int(row["sitting_bouts"]) == day["sitting_bouts"] and int(row["sitting_breaks"]) == day["sitting_breaks"]
    assert float(row["sitting_tilt_median_deg"]) == pytest.approx(day["sitting_tilt_median_deg"], abs=0.005)
    # The timeline batch wrote is the one analyze writes.
    (batch_timeline,) = (two_workers / "recordings/b").glob("b_1.*.timeline.csv")
    assert batch_timeline.read_bytes() == timeline.read_bytes()


def test_one_worker_gives_the_same_files_and_a_second_run_resumes(two_workers, study, tmp_path, capsys):
    out = tmp_path / "out1"
    assert batch([str(study)], out, "--jobs", "1") == 1
    assert user_files(out) == user_files(two_workers)
    capsys.readouterr()
    # Resumed: nothing analysed again, the same files.
    assert batch([str(study)], out, "--jobs", "1") == 1
    assert "(0 analysed, 6 done before, 2 errors)" in capsys.readouterr().err
    assert user_files(out) == user_files(two_workers)
    # A recording whose content changed, and one new file, are analysed; the rest is not.
    shutil.copy(study / "b_1.csv.gz", tmp_path / "b_1.csv.gz")
    data = (study / "a" / "a_2.hsb").read_bytes()
    (tmp_path / "a_2.hsb").write_bytes(data[: len(data) // 2])
    inputs = [
        str(study / "a" / "a_1a.hsb"),
        str(study / "a" / "a_1b.hsb"),
        str(tmp_path / "a_2.hsb"),
        str(tmp_path / "b_1.csv.gz"),
    ]
    assert batch(inputs, out, "--jobs", "1") == 1  # the truncated a_2 is reported
    assert "(1 analysed, 3 done before" in capsys.readouterr().err
    # Other settings: everything again.
    assert batch(inputs, out, "--jobs", "1", "--tz", "Europe/London") == 1
    assert "(4 analysed, 0 done before" in capsys.readouterr().err


def test_dask_local_cluster_gives_the_same_files(two_workers, study, tmp_path):
    distributed = pytest.importorskip(
        "distributed", reason="dask[distributed] is not installed (pip install '.[dask]')"
    )
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        out = tmp_path / "dask"
        assert batch([str(study)], out, "--scheduler", cluster.scheduler_address) == 1
    assert user_files(out) == user_files(two_workers)


def test_report_is_self_contained(two_workers):
    page = (two_workers / "report.html").read_text(encoding="utf-8")
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    for plot in ("sitting-distribution", "anterior-distribution", "ribbons"):
        assert f'data-plot="{plot}"' in page
    assert page.count(" 2026-01-0") == 5  # one ribbon label per wearer-day
    assert "<script" not in page


def test_bad_options_are_one_line_errors(study, tmp_path, capsys):
    assert main(["batch", str(study), "--out", str(tmp_path / "o"), "--wearer-from", "(unclosed"]) == 2
    assert "is not a regular expression" in capsys.readouterr().err
    assert main(["batch", str(study), "--out", str(tmp_path / "o"), "--scheduler", "my laptop"]) == 2
    assert "not a scheduler address" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "nothing*.hsb"), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    (row,) = rows(tmp_path / "o" / "errors.csv")
    assert "no file matches" in row["error"]


def test_simulate_writes_the_wearer_and_start(tmp_path):
    sim(tmp_path / "x.csv", wearer="p-07", start="2026-02-01T07:30:00+01:00", minutes=1)
    head = (tmp_path / "x.csv").read_text().splitlines()[:8]
    assert "# wearer=p-07" in head and "# start=2026-02-01T07:30:00+01:00" in head
    assert not (tmp_path / "x.truth.csv").exists()
    assert main(["simulate", "--out", str(tmp_path / "y.csv"), "--wearer", "no spaces", "--minutes", "1"]) == 2


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find the worker process")
def test_a_worker_killed_midway_is_replaced_and_its_recordings_run_again(study, tmp_path):
    out = tmp_path / "killed"
    inputs = [str(study / "a"), str(study / "b_1.csv.gz")]
    cmd = [sys.executable, "-m", "hipsense", "batch", *inputs, "--out", str(out), "--jobs", "1", "--no-progress"]
    proc = subprocess.Popen([*cmd, *MIN_WEAR], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    while proc.poll() is None and killed is None:
        for child in _children(proc.pid):
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    os.kill(child, signal.SIGKILL)
                    killed = child
            except (OSError, ProcessLookupError):
                continue
        time.sleep(0.02)
    _, err = proc.communicate(timeout=240)
    assert killed is not None, "the batch ended before a worker was seen"
    assert proc.returncode == 0, err
    assert rows(out / "errors.csv") == []
    assert sorted(r["status"] for r in rows(out / "recordings.csv")) == ["ok"] * 4
