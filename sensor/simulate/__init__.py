"""A seedable simulated belt-worn wearer, with per-sample ground truth.

>>> samples, truth = simulate(parse_scenario("stand 5, sit 10"), SensorModel.ideal(rate_hz=50), seed=1)
>>> len(samples), float(samples.t[1])
(750, 0.02)
>>> round(float(truth.tilt_deg[-1])) < -10, str(truth.activity[-1])
(True, 'sitting')

Frames and signs
----------------
- World: z up (gravity is -z), x and y horizontal.
- Pelvis: x anterior, y left, z superior; identity = the wearer's **neutral standing**. Pelvis->world rotation
  ``R = Rz(yaw) @ Ry(tilt) @ Rx(obliquity)``:
  *tilt* is anterior positive (a positive rotation about +y tips the superior axis toward +x), so sitting is
  about -20° and lying on the back about -85°; *obliquity* is a right-hand rotation about the anterior axis,
  positive when the left side of the pelvis is higher (left-side lying is -90°, right-side lying +90°);
  *yaw* is the heading about world z.
- Sensor: ``mounting`` is the 3x3 sensor->pelvis rotation (``v_pelvis = mounting @ v_sensor``).
  ``gyro`` is the angular velocity of the sensor in its own frame; ``acc`` is the specific force (linear
  acceleration minus gravity, so +9.80665 m/s² along the upward axis when still) in the sensor frame. Both
  come from one C² trajectory (see :mod:`sensor.simulate.plan`), including the lever arm of the sensor on the belt.

Truth
-----
``tilt_deg`` and ``obliquity_deg`` are the angles above, so for any posture that is not lying on the back,
``tilt = -asin(up_x)`` and ``obliquity = atan2(up_y, up_z)`` where ``up`` is the upward unit vector in the
pelvis frame. ``activity`` switches halfway through a postural transition (``walking`` reads ``standing``
inside one: gait fades out before it and starts after it); ``transition`` is True inside sit<->stand,
sit<->lie, stand<->lie and rolling over (not at the start of walking or at a change of tilt).

Timing and streams
------------------
Nominal sample instants are ``i / rate_hz`` (i = 0, 1, ...). With ``jitter_s`` each instant moves by
a normal offset truncated at ±0.45 sample periods (so ``t`` stays strictly increasing); the signal is
evaluated at the moved instant and that instant is reported. Sample 0 is never moved or dropped, so
``t0 = 0`` and epochs are ``k = floor(t)``. All randomness of the sensor is drawn per fixed block of
samples from ``(seed, block)``, and the motion is a pure function of time, so chunking never changes the
output, and changing ``drop_rate`` or the noise levels does not change the other random draws.

Modules
-------
- :mod:`~sensor.simulate.scenarios`: what the wearer does (:class:`Segment`, :func:`parse_scenario`, the
  workday and random scenarios);
- :mod:`~sensor.simulate.plan`: the scenario compiled into smooth analytic trajectories;
- :mod:`~sensor.simulate.kinematics`: the trajectory mathematics (values with their derivatives, rotations);
- :mod:`~sensor.simulate.sensor_model`: the simulated IMU (errors, mounting) and its draw for a seed;
- :mod:`~sensor.simulate.truth`: ground truth per sample and per epoch, and the truth CSV;
- :mod:`~sensor.simulate.wearer`: the sample stream (:func:`simulate`, :func:`simulate_chunks`).
"""

from sensor.simulate.scenarios import (
    ACTIVITIES,
    LYING_SIDES,
    Segment,
    parse_scenario,
    scenario_random,
    scenario_workday,
    with_stand_offset,
)
from sensor.simulate.sensor_model import RealizedSensor, SensorModel, realize_sensor
from sensor.simulate.truth import EpochTruth, EpochTruthBuilder, Truth, epoch_truth, write_truth_csv
from sensor.simulate.wearer import simulate, simulate_chunks

__all__ = [
    "ACTIVITIES",
    "LYING_SIDES",
    "EpochTruth",
    "EpochTruthBuilder",
    "RealizedSensor",
    "Segment",
    "SensorModel",
    "Truth",
    "epoch_truth",
    "parse_scenario",
    "realize_sensor",
    "scenario_random",
    "scenario_workday",
    "simulate",
    "simulate_chunks",
    "with_stand_offset",
    "write_truth_csv",
]
