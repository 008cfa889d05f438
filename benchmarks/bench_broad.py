"""Inclination accuracy on real data with optical truth (BROAD), ours beside VQF, native rate and ~95 Hz.

Run: ``python benchmarks/bench_broad.py [--data ../shared/data/broad-dev]`` (needs ``pip install vqf``: a
benchmark extra, never a runtime dependency).

Data: BROAD, D. Laidig, M. Caruso, A. Cereatti, T. Seel, "BROAD - A Benchmark for Robust Inertial Orientation
Estimation", Data 6(7):72, 2021, CC BY 4.0. The trials are read in place at run time, never copied.

Metric (BROAD's own): inclination error = angle between the estimated and the true vertical in the sensor frame,
RMS over the ``movement`` samples (NaN truth skipped), per trial; the table ends with the mean over trials.
Columns: ours live (causal, :func:`processing.orientation.estimate_up`), ours analyze (``offline=True``,
hindsight), VQF 6D online (``VQF.updateBatch``) and offline VQF 6D (``offlineVQF``), all with defaults, fed the
whole trial. The second table reduces every trial to ~95 Hz (mean of each 3 samples of gyr and acc, the last
truth of each 3). Targets: live mean <= 0.70° and no trial above 1.5x VQF online; analyze mean <= 0.50°.

Timing: ``--measure-lag`` prints, per trial, the lag of the IMU behind the optical truth, found by matching the
gyro to the angular rate of the optical quaternions (independent of any filter): about 4.2 ms on every trial,
so every filter's vertical is compared with a truth 4.2 ms ahead of it (at ~95 Hz, 7.7 ms: the 3-sample mean
sits one native sample before the truth taken). ``--latency-ms`` shows that share (a diagnostic; the default
stays 0, nothing is tuned to the truth).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from processing.orientation import OrientationParams, estimate_up

DEFAULT = Path(__file__).resolve().parent.parent / ".." / "shared" / "data" / "broad-dev"


def true_up(q: np.ndarray) -> np.ndarray:
    """Vertical in the sensor frame, ``R(q)ᵀ e_z``, for (n, 4) w x y z quaternions (sensor -> ENU)."""
    w, x, y, z = q.T
    return np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z), axis=1)


def rmse_deg(up: np.ndarray, truth: np.ndarray, movement: np.ndarray) -> float:
    ok = movement & np.isfinite(truth).all(axis=1)
    cos = (up[ok] * truth[ok]).sum(axis=1) / np.linalg.norm(up[ok], axis=1)
    return float(np.degrees(np.sqrt(np.mean(np.arccos(np.clip(cos, -1.0, 1.0)) ** 2))))


def load(path: Path, reduce: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    z = np.load(path)
    gyr = z["gyr"].astype(np.float64)
    acc = z["acc"].astype(np.float64)
    quat = z["opt_quat"].astype(np.float64)
    movement = z["movement"].astype(bool)
    rate = float(z["rate"])
    if reduce:
        n = gyr.shape[0] // 3 * 3
        gyr = gyr[:n].reshape(-1, 3, 3).mean(axis=1)
        acc = acc[:n].reshape(-1, 3, 3).mean(axis=1)
        quat, movement, rate = quat[2:n:3], movement[2:n:3], rate / 3
    return gyr, acc, true_up(quat), movement, rate


def imu_lag_ms(gyr: np.ndarray, quat: np.ndarray, rate: float) -> float:
    """How far the gyro lags the optical truth, ms: the shift (in samples, parabola-refined) that best matches the
    gyro to the body rate of consecutive optical quaternions (``2 vec(q_k⁻¹ q_k+1) rate``)."""
    a, b = quat[:-1], quat[1:]
    conj = a * np.array([1.0, -1.0, -1.0, -1.0])
    w1, x1, y1, z1 = conj.T
    w2, x2, y2, z2 = b.T
    d = np.stack(
        (
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ),
        axis=1,
    )
    rate_truth = 2.0 * d[:, 1:] * np.sign(d[:, :1]) * rate
    g = 0.5 * (gyr[:-1] + gyr[1:])
    shifts = range(-6, 7)
    cost = []
    for k in shifts:
        tr = rate_truth[max(0, -k) : len(rate_truth) - max(0, k)]
        gg = g[max(0, k) : len(g) - max(0, -k)]
        ok = np.isfinite(tr).all(axis=1)
        cost.append(float(np.mean(np.sum((tr[ok] - gg[ok]) ** 2, axis=1))))
    i = int(np.argmin(cost))
    off = 0.0
    if 0 < i < len(cost) - 1:
        c0, c1, c2 = cost[i - 1 : i + 2]
        off = 0.5 * (c0 - c2) / (c0 - 2 * c1 + c2)
    return (shifts[i] + off) / rate * 1000.0


def run(files: list[Path], reduce: bool, params: OrientationParams) -> np.ndarray:
    from vqf import VQF, offlineVQF

    def vqf_up(q: np.ndarray) -> np.ndarray:
        return true_up(q)

    rows = []
    label = "~95 Hz (3-sample means)" if reduce else "native rate (285.7 Hz)"
    print(f"\n### BROAD, {label}: inclination RMSE, degrees\n")
    print("| trial | ours live | ours analyze | VQF online | VQF offline | live / VQF online |")
    print("|---|---|---|---|---|---|")
    for path in files:
        gyr, acc, truth, movement, rate = load(path, reduce)
        t = np.arange(gyr.shape[0]) / rate
        live = rmse_deg(estimate_up(t, gyr, acc, params=params), truth, movement)
        analyze = rmse_deg(estimate_up(t, gyr, acc, offline=True, params=params), truth, movement)
        g, a = np.ascontiguousarray(gyr), np.ascontiguousarray(acc)
        on = rmse_deg(vqf_up(VQF(1.0 / rate).updateBatch(g, a)["quat6D"]), truth, movement)
        off = rmse_deg(vqf_up(offlineVQF(g, a, None, 1.0 / rate)["quat6D"]), truth, movement)
        rows.append((live, analyze, on, off))
        print(f"| {path.stem} | {live:.2f} | {analyze:.2f} | {on:.2f} | {off:.2f} | {live / on:.2f} |")
    r = np.array(rows)
    m = r.mean(axis=0)
    worst = (r[:, 0] / r[:, 2]).max()
    print(f"| **mean** | **{m[0]:.3f}** | **{m[1]:.3f}** | **{m[2]:.3f}** | **{m[3]:.3f}** | max {worst:.2f} |")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT, help="folder of BROAD .npz trials (default: %(default)s)")
    ap.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="OrientationParams.latency_s in ms (default 0: the product's default; a diagnostic of the "
        "IMU-to-truth timing offset, not a tuned default)",
    )
    ap.add_argument(
        "--no-accel-calibration",
        action="store_true",
        help="ours without the accelerometer calibration from rests (processing.accel_calibration; on by default)",
    )
    ap.add_argument("--measure-lag", action="store_true", help="print the IMU's lag behind the optical truth per trial")
    args = ap.parse_args()
    params = OrientationParams(latency_s=args.latency_ms / 1000.0)
    if args.no_accel_calibration:
        params = replace(params, acc_bias_prior_sd_mps2=0.0)
    files = sorted(args.data.glob("*.npz")) if args.data.is_dir() else []
    if not files:
        print(f"bench_broad: no BROAD trials (*.npz) in {args.data}; give the folder with --data", file=sys.stderr)
        return 2
    print(f"BROAD trials read from {args.data.resolve()} ({len(files)} trials); data CC BY 4.0, Laidig et al. 2021")
    if args.latency_ms:
        print(f"ours with latency_s = {args.latency_ms:g} ms (not the default)")
    if args.no_accel_calibration:
        print("ours without the accelerometer calibration from rests (not the default)")
    if args.measure_lag:
        lags = []
        for path in files:
            z = np.load(path)
            lags.append(imu_lag_ms(z["gyr"].astype(np.float64), z["opt_quat"].astype(np.float64), float(z["rate"])))
            print(f"{path.stem}: the IMU lags the optical truth by {lags[-1]:.2f} ms")
        print(f"median lag {np.median(lags):.2f} ms (range {min(lags):.2f}..{max(lags):.2f})")
    native = run(files, reduce=False, params=params)
    reduced = run(files, reduce=True, params=params)
    for name, r in (("native", native), ("~95 Hz", reduced)):
        live, analyze, on, off = r.mean(axis=0)
        worst = (r[:, 0] / r[:, 2]).max()
        print(
            f"\n{name}: live {live:.3f}° (VQF online {on:.3f}°, worst trial ratio {worst:.2f}), "
            f"analyze {analyze:.3f}° (offline VQF {off:.3f}°)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
