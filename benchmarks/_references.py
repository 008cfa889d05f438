"""The reference filters the benchmarks compare with (VQF, imufusion): gravity direction per sample, sensor frame.

Benchmark extras only (``pip install -e '.[bench]'``); never runtime dependencies.
"""

from __future__ import annotations

import numpy as np

from processing.samples import STANDARD_GRAVITY, Samples


def up_vqf(samples: Samples, rate_hz: float) -> np.ndarray:
    from vqf import VQF

    out = VQF(1.0 / rate_hz).updateBatch(np.ascontiguousarray(samples.gyro), np.ascontiguousarray(samples.acc))
    w, x, y, z = out["quat6D"].T  # sensor -> earth; up in the sensor frame is the third row of R
    return np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z), axis=1)


def up_imufusion(samples: Samples, rate_hz: float) -> np.ndarray:
    import imufusion

    ahrs = imufusion.Ahrs()
    ahrs.set_settings(
        imufusion.AhrsSettings(
            convention=imufusion.CONVENTION_NWU,
            gain=0.5,
            gyroscope_range=2000.0,
            acceleration_rejection=10.0,
            magnetic_rejection=0.0,
            rejection_timeout=int(5 * rate_hz),
            sample_rate=round(rate_hz),
        )
    )
    gyro_dps = np.degrees(samples.gyro)
    acc_g = samples.acc / STANDARD_GRAVITY
    up = np.empty_like(samples.acc)
    for i in range(len(samples)):
        ahrs.update_no_magnetometer(gyro_dps[i], acc_g[i])
        up[i] = ahrs.get_gravity()
    return up
