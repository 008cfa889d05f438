"""Pelvic tilt accuracy after guided calibration, on the simulator, against VQF and imufusion.

Run: ``python benchmarks/bench_tilt.py [--seeds 100-104] [--rates 50,100,200] [--hapt ../shared/data/hapt-dev]``
(needs ``pip install vqf imufusion``; benchmark extras, not runtime dependencies).

For every seed, mounting (front, side, back, random) and rate, a simulated wearer (noise, biases, gyro bias
random walk, 1 ms timestamp jitter) stands in neutral for 30 s, then walks, sits and stands with sit-to-stand
transitions. Each estimator's gravity direction is averaged per 1 s epoch and calibrated the same way
(:func:`processing.calibration.calibrate_guided` on the 2..28 s neutral window), then turned into tilt by the
same :func:`processing.calibration.pelvic_angles`. The table gives the RMSE of epoch tilt against the
simulator's truth for still standing and sitting, walking, and epochs inside sit<->stand transitions.
Targets (issue 10): <= 0.7° static, <= 1.0° walking, <= 1.5° transitions. The simulated sensor is
:class:`sensor.simulate.SensorModel`'s default: a cheap IMU (power-on gyro bias up to ±3 °/s per axis, drifting;
accelerometer bias 20–50 mg, 1 % scale, 0.2 % cross-axis).

Tuning used seeds 0..30 only. The default seeds 100..104 were not looked at while tuning until issue 10's
third round, which checked its choices (``rest_hold_s``, the accelerometer calibration on by default, the turn
compensation's gates) on them and on seeds 140..149; seeds 120..139 were run once mid-round and 160..179 once at
its end, as fresh checks.

With ``--hapt`` (the HAPT development set, real waist-worn phone data, read in place and never copied),
it also reports, per recording, whether labelled sitting comes out posterior (negative tilt) after the
automatic calibration and after a guided one on the first labelled standing segment.
"""

from __future__ import annotations

import argparse
import math
import re
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from _references import up_imufusion, up_vqf  # benchmarks/_references.py

from processing.calibration import CalibrationError, calibrate, calibrate_guided, pelvic_angles
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import HindsightUp, OrientationUp, make_up_estimator
from processing.orientation import OrientationParams
from processing.samples import Samples
from sensor.simulate import SensorModel, Truth, epoch_truth, parse_scenario, simulate

SCENARIO = (
    "stand 30 tilt=0, walk 60, sit 60, stand 20, walk 40, sit 45, stand 20, walk 30, sit 30, stand 15, "
    "walk 20, sit 40, stand 20"
)
NEUTRAL = (2.0, 28.0)
MOUNTINGS: dict[str, tuple[float, float, float] | str] = {
    "front": (0.0, 0.0, 0.0),
    "side": (90.0, 0.0, 0.0),
    "back": (180.0, 0.0, 0.0),
    "random": "random",
}
CONDITIONS = ("static", "walking", "transition")
TARGETS = {"static": 0.7, "walking": 1.0, "transition": 1.5}


def with_up(features: EpochFeatures, samples: Samples, up: np.ndarray) -> EpochFeatures:
    """``features`` with the epoch-mean up replaced by the mean of ``up`` (n, 3) over each epoch."""
    k = np.floor(samples.t - samples.t[0]).astype(np.int64)
    sums = np.zeros((int(features.k[-1]) + 1, 3))
    np.add.at(sums, k[k <= features.k[-1]], up[k <= features.k[-1]])
    mean = sums[features.k]
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    return replace(features, up=mean)


def masks(truth: Truth) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """True epoch tilt relative to the pose held in the calibration window, and the condition masks.

    A guided calibration defines neutral as the pose the wearer holds while it runs. The simulated wearer
    sways, so the true tilt averaged over ``NEUTRAL`` is not exactly the simulator's zero (-0.1 .. +0.7° on
    seeds 0..5): measured from that zero, a perfect estimator would score up to 0.7°. The truth is therefore
    taken relative to its own mean over the epochs wholly inside ``NEUTRAL``, which no estimator can know.
    """
    ep = epoch_truth(truth)
    settled = ep.t >= 30.0
    window = (ep.t >= NEUTRAL[0]) & (ep.t + 1.0 <= NEUTRAL[1])
    return ep.tilt_deg - float(ep.tilt_deg[window].mean()), {
        "static": settled & np.isin(ep.activity, ["standing", "sitting"]) & ~ep.transition,
        "walking": settled & (ep.activity == "walking") & ~ep.transition,
        "transition": settled & ep.transition & np.isin(ep.activity, ["standing", "sitting"]),
    }


#: Diagnostic sensors (``--sensor``): the default cheap IMU with some of its errors removed, to tell how much of
#: the error each part causes. Not the benchmark's figures.
IDEAL_ACC = {"acc_bias_range": (0.0, 0.0), "acc_scale": 0.0, "acc_cross_axis": 0.0}
IDEAL_GYRO = {"gyro_power_on_max": 0.0, "gyro_thermal_max": 0.0, "gyro_bias_walk": 0.0}
SENSORS: dict[str, dict[str, object]] = {
    "default": {},
    "ideal-acc": IDEAL_ACC,
    "ideal-gyro": IDEAL_GYRO,
    "ideal": {**IDEAL_ACC, **IDEAL_GYRO},
    "acc-bias-only": {**IDEAL_ACC, "acc_bias_range": SensorModel().acc_bias_range},
    "acc-scale-only": {
        **IDEAL_ACC,
        "acc_scale": SensorModel().acc_scale,
        "acc_cross_axis": SensorModel().acc_cross_axis,
    },
}


def run_one(
    seed: int,
    mounting: tuple[float, float, float] | str,
    rate: float,
    others: bool,
    imufusion: bool = False,
    sensor_errors: str = "default",
    accel_calibration: bool = True,
    overrides: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    sensor = SensorModel(
        rate_hz=rate,
        mounting_deg=mounting,  # type: ignore[arg-type]
        jitter_s=0.001,
        **SENSORS[sensor_errors],  # type: ignore[arg-type]
    )
    samples, truth = simulate(parse_scenario(SCENARIO), sensor, seed=seed)
    params = replace(OrientationParams(rate_hz=rate), **(overrides or {}))  # type: ignore[arg-type]
    if not accel_calibration:
        params = replace(params, acc_bias_prior_sd_mps2=0.0)
    fx = FeatureExtractor(rate_hz=rate, up_estimator=OrientationUp(params))
    features = EpochFeatures.concat([fx.update(samples), fx.finish()])
    true_tilt, sel = masks(truth)
    n = min(len(features), len(true_tilt))
    variants = {"hipsense": features}
    # the analyze path: hindsight over windows (processing.gravity.HindsightUp), fed as analyze feeds it
    hindsight = HindsightUp(rate, params=params)
    fx = FeatureExtractor(rate_hz=rate, up_estimator=hindsight)
    parts = [fx.update(piece) for piece in [*hindsight.push(samples), *hindsight.finish()]]
    variants["hipsense analyze"] = EpochFeatures.concat([*parts, fx.finish()])
    if others:
        variants["VQF (online, 6D)"] = with_up(features, samples, up_vqf(samples, rate))
    if others and imufusion:
        variants["imufusion"] = with_up(features, samples, up_imufusion(samples, rate))
    errors: dict[str, np.ndarray] = {}
    for name, feats in variants.items():
        try:
            cal = calibrate_guided(feats, NEUTRAL)
        except CalibrationError:  # the estimator's up drifted too far to calibrate: count the run as failed
            for cond in CONDITIONS:
                errors[f"{name}|{cond}"] = np.full(int(sel[cond][:n].sum()), np.inf)
            continue
        tilt, _ = pelvic_angles(feats.up, cal)
        err = tilt[:n] - true_tilt[:n]
        for cond in CONDITIONS:
            errors[f"{name}|{cond}"] = err[sel[cond][:n]]
    return errors


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def rmse(values: list[np.ndarray]) -> float:
    v = np.concatenate(values) if values else np.empty(0)
    if np.isinf(v).any():
        return math.inf  # a run that could not be calibrated
    v = v[np.isfinite(v)]
    return float(np.sqrt(np.mean(v**2))) if v.size else math.nan


def simulator_table(
    seeds: list[int],
    rates: list[float],
    others: bool,
    imufusion: bool = False,
    sensor_errors: str = "default",
    accel_calibration: bool = True,
    overrides: dict[str, float] | None = None,
) -> None:
    t0 = time.perf_counter()
    collected: dict[tuple[str, str, str], list[np.ndarray]] = {}
    worst: dict[tuple[str, str], float] = {}
    for rate in rates:
        for mname, mounting in MOUNTINGS.items():
            for seed in seeds:
                for key, err in run_one(
                    seed, mounting, rate, others, imufusion, sensor_errors, accel_calibration, overrides
                ).items():
                    est, cond = key.split("|")
                    for group in (f"{rate:g} Hz", mname, "all"):
                        collected.setdefault((est, cond, group), []).append(err)
                    r = rmse([err])
                    worst[(est, cond)] = max(worst.get((est, cond), 0.0), r)
    estimators = sorted({k[0] for k in collected}, key=lambda s: (s != "hipsense", s))
    groups = [*(f"{r:g} Hz" for r in rates), *MOUNTINGS, "all"]
    print(
        f"epoch tilt RMSE (deg) vs truth after guided calibration; seeds {seeds[0]}..{seeds[-1]} "
        f"({len(seeds)}), {len(rates) * len(MOUNTINGS) * len(seeds)} runs, {time.perf_counter() - t0:.0f} s"
        + (f"; DIAGNOSTIC sensor '{sensor_errors}' (not the benchmark's sensor)" if sensor_errors != "default" else "")
        + ("; hipsense without the accelerometer calibration (not the default)" if not accel_calibration else "")
        + (f"; hipsense with {overrides} (not the defaults)" if overrides else "")
    )
    header = (
        f"{'estimator':18} {'condition':11} " + " ".join(f"{g:>8}" for g in groups) + f" {'worst run':>9} {'target':>7}"
    )
    print(header)
    print("-" * len(header))
    for est in estimators:
        for cond in CONDITIONS:
            cells = " ".join(f"{rmse(collected.get((est, cond, g), [])):8.2f}" for g in groups)
            overall = rmse(collected[(est, cond, "all")])
            mark = "ok" if overall <= TARGETS[cond] else "MISS"
            print(f"{est:18} {cond:11} {cells} {worst[(est, cond)]:9.2f} {TARGETS[cond]:5.1f} {mark}")


def hapt_check(root: Path) -> None:
    from sensor.recording import open_recording

    raw = root / "RawData"
    if not raw.is_dir():
        print(f"HAPT: {root} not found; skipping the real-data sign check")
        return
    labels = np.loadtxt(raw / "labels.txt", dtype=np.int64)
    auto_ok = guided_ok = n_sitting = 0
    rows = []
    for path in sorted(raw.glob("acc_exp*_user*.txt.gz")):
        exp, user = (int(v) for v in re.findall(r"\d+", path.name))
        with warnings.catch_warnings(), open_recording(path) as rec:
            warnings.simplefilter("ignore")
            fx = FeatureExtractor(rate_hz=rec.info.rate_hz, up_estimator=make_up_estimator(rec.info.rate_hz))
            f = EpochFeatures.concat([*(fx.update(c) for c in rec), fx.finish()])
        act = np.zeros(len(f), np.int64)
        for _, _, a, lo, hi in labels[labels[:, 0] == exp]:
            act[(f.t >= (lo - 1) / 50.0) & (f.t + 1.0 <= hi / 50.0)] = a
        sitting = act == 4
        if not sitting.any():
            rows.append(f"exp{exp:02d} user{user:02d}: no labelled sitting")
            continue
        n_sitting += 1
        auto = calibrate(f)
        a_tilt = float(np.nanmean(pelvic_angles(f.up, auto)[0][sitting])) if auto else math.nan
        standing = np.flatnonzero(act == 5)
        first = standing[: int(np.argmax(np.diff(standing) > 1)) + 1] if np.any(np.diff(standing) > 1) else standing
        try:
            guided = calibrate_guided(f, (float(f.t[first[0]]), float(f.t[first[-1]] + 1.0)))
            g_tilt = float(np.nanmean(pelvic_angles(f.up, guided)[0][sitting]))
            g_check = guided.sign_check
        except CalibrationError:
            g_tilt, g_check = math.nan, "failed"
        auto_ok += a_tilt < 0
        guided_ok += g_tilt < 0
        rows.append(
            f"exp{exp:02d} user{user:02d}: sitting {a_tilt:+6.1f}° auto ({auto.sign_check if auto else 'failed'}), "
            f"{g_tilt:+6.1f}° guided ({g_check})"
        )
    print("\n".join(rows))
    print(
        f"HAPT: sitting posterior in {auto_ok}/{n_sitting} recordings with sitting (automatic calibration), "
        f"{guided_ok}/{n_sitting} (guided on the first standing segment)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="100-104", help="seeds, e.g. 100-104 or 0,3,7 (default: 100-104, untuned)")
    ap.add_argument("--rates", default="50,100,200", help="sample rates in Hz (default: 50,100,200)")
    ap.add_argument("--no-others", action="store_true", help="skip the reference filters")
    ap.add_argument("--imufusion", action="store_true", help="also run imufusion (slow: a Python loop per sample)")
    ap.add_argument("--hapt", type=Path, default=None, help="HAPT folder for the real-data sign check")
    ap.add_argument(
        "--sensor",
        choices=sorted(SENSORS),
        default="default",
        help="diagnostic: remove the accelerometer's errors (ideal-acc), the gyro's bias and drift (ideal-gyro) or "
        "both (ideal) from the simulated sensor (default: the cheap IMU, the benchmark's figures)",
    )
    ap.add_argument(
        "--no-accel-calibration",
        action="store_true",
        help="hipsense without the accelerometer calibration from rests (processing.accel_calibration; on by default)",
    )
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="diagnostic: override a field of processing.orientation.OrientationParams for hipsense (SI units, as "
        "documented there), e.g. --param tau_acc_s=4; repeatable (default: none, the product's defaults)",
    )
    args = ap.parse_args()
    overrides: dict[str, float] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or name not in OrientationParams.__dataclass_fields__:
            ap.error(f"--param {item!r}: expected NAME=VALUE with NAME a field of OrientationParams")
        try:
            overrides[name] = float(value)
        except ValueError:
            ap.error(f"--param {item!r}: VALUE must be a number")
    simulator_table(
        parse_seeds(args.seeds),
        [float(r) for r in args.rates.split(",")],
        not args.no_others,
        args.imufusion,
        args.sensor,
        not args.no_accel_calibration,
        overrides,
    )
    if args.hapt is not None:
        hapt_check(args.hapt)


if __name__ == "__main__":
    main()
