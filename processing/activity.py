"""Activity per 1 s epoch: sitting, standing, walking, lying or unknown; codes index :data:`ACTIVITIES`.

At the hip the pelvis angle alone does not tell sitting from standing: many people sit with the pelvis only
5–10° behind their standing posture, and some sit upright on the edge of a bed. What does tell them apart is
how the wearer got there: sitting down lowers the pelvis by 0.3–0.5 m, standing up raises it as much
(:mod:`processing.transitions`). :class:`ActivityClassifier` is a state machine driven by those transitions:

- **lying**: the pelvis' superior axis is more than ``lying_deg`` from vertical;
- **walking**: |acc| varies more than ``walking_acc_std`` within the epoch; walking means the wearer stands;
- **sitting / standing** (upright otherwise): the posture held since the last transition. A transition that
  lowered the pelvis by ``drop_m`` or more is a sit-down, one that raised it is a stand-up, and getting up
  from lying counts as a stand-up when the pelvis rose ``lying_rise_m``. Without a transition to go by (the
  start of a stream, after a gap or non-wear) the tilt of the first quiet epoch decides (not the moving ones
  of putting the sensor on): below ``sitting_tilt_deg`` relative to the wearer's standing is sitting. With
  ``hindsight`` (``analyze``) the first clear transition after that revises those epochs. A tilt far below
  standing (``sure_sitting_tilt_deg``) is sitting whatever came before: a missed sit-down is corrected at
  once;
- **unknown**: uncalibrated, a gap (coverage below ``min_coverage``), or non-wear (:mod:`processing.nonwear`).

The wearer's standing neutral is learnt as they go (:class:`StandingNeutral`): every sit-down tells the tilt
at the rest before it, every stand-up the tilt at the rest after it, and every stop after walking the tilt of
the first still seconds; a weighted median of these observations (and of the calibration's own neutral, as a
prior weighted by how the calibration was made) is the standing reference, with a confidence. People do not
all stand the way they walk (up to 15° apart), so after a calibration from walking the reference can move
anywhere; after a guided one it stays near the neutral the wearer showed. Without ``hindsight`` the
classifier is causal and its output does not depend on how the epochs are batched; a posture change shows
with the first still epoch after the transition (within 1–2 s of its end).

With an *upright-only* calibration (the standing vertical without an anterior axis, see
:func:`processing.calibration.upright_only`) the tilt is unknown (NaN): transitions, walking and lying still
decide, and a posture without a transition to go by is taken as standing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from processing.calibration import Calibration
from processing.features import EpochFeatures
from processing.nonwear import NonWearDetector
from processing.samples import FloatArray
from processing.stage import SnapshotState
from processing.transitions import Transition, TransitionDetector, WalkSitRule

Int8Array = NDArray[np.int8]

ACTIVITIES = ("unknown", "sitting", "standing", "walking", "lying")
_COS_BACK = math.cos(math.radians(6.0))  # a movement that ends within 6° of where it started went back
#: Sit-downs and stand-ups kept in ``ActivityClassifier.transitions`` (bounded memory on long streams).
MAX_TRANSITIONS = 1000
UNKNOWN, SITTING, STANDING, WALKING, LYING = range(5)


@dataclass(frozen=True)
class ActivityParams:
    """Parameters of :class:`ActivityClassifier`.

    walking_acc_std: |acc| std within an epoch above which it is walking, m/s².
    lying_deg: inclination of the pelvis' superior axis from vertical above which it is lying, degrees (people
        leaning back in a chair reach 50–72°, lying on HAPT is 78° or more).
    min_coverage: fraction of an epoch's samples that must be present; below it the epoch is a gap.
    rest_acc_std, rest_gyro_rms: an epoch with |acc| std (m/s²) and gyro RMS (rad/s) below both is a rest
        (a transition ends at one).
    quiet_acc_std, quiet_gyro_rms: the same for a *quiet* epoch, m/s² and rad/s: two in a row, within 3°,
        are the rest a transition starts from.
    drop_m: score of a transition, m, beyond which it is a sit-down (down) or stand-up (up); the score is the
        vertical displacement plus ``tilt_weight_m_per_deg`` x the change of tilt (sitting down also turns
        the pelvis back). A sit-down that turned the pelvis forward by more than ``max_counter_turn_deg``
        (or a stand-up that turned it back as much) is not believed. A movement that moved the sensor up or
        down by less than ``min_dz_m`` (m) counts only when the tilt changed by ``tilt_only_deg`` (degrees) or
        more: a seated lean forward of 11° (simulated seed 2) scored as a stand-up, while the real stand-ups
        of HAPT whose displacement integrated to under 0.05 m turned the pelvis by 17–43°.
        A transition straight from walking is judged by the tilt alone (its displacement is unreliable), except
        while the tilt is unknown or untrusted (see ``walk_sit_drop_m``). With an upright-only calibration (no
        tilt, but the inclination is from the standing vertical) the change of inclination stands for the
        change of tilt in the score: coming back toward the standing vertical is a stand-up's forward turn,
        leaving it a sit-down's backward one (the counter-turn check still needs a real tilt). A stand-up whose
        displacement drifted to +0.07 m came back 29° toward it (HAPT user 13, kept upright-only as a test).
    truncated_drop_m: a truncated movement (only its last ``max_transition_s`` integrated, from a resting epoch
        that may not be still: ``Transition.from_rest``) counts only with a score of this size, m: the tails of
        a wearer swaying while standing integrated to -0.16 m (HAPT user 3), its true sit-down to -0.44 m.
    walk_sit_drop_m, walk_sit_min_turn_deg: while the tilt cannot decide (anterior sign unconfirmed, or an
        upright-only calibration), a stop straight from walking is a sit-down when the pelvis dropped by
        ``walk_sit_drop_m`` (m) or more by either integration (``Transition.dz_m``, integrated back from the
        rest, or ``Transition.dz_level_m``, from the walking's level) while turning ``walk_sit_min_turn_deg``
        (degrees, mounting-free) or more. On the simulator stops into standing (also leaning forward 15°)
        stay within ±0.16 m by both, sit-downs reach -0.2 m or lower by at least one; on real waist phones
        (HAPT) 33 of 200 stops into standing pass it too (see :class:`processing.transitions.WalkSitRule`), so
        the posture so read is provisional: the tilt decides again once the sign is confirmed. With a trusted
        tilt, a stop that turned the pelvis back by ``walk_sit_min_turn_deg`` and dropped by ``walk_sit_drop_m``
        by one integration and ``walk_sit_confirm_m`` (m) by the other is a sit-down too, whatever the angle
        (a sitting 13° behind standing is above ``sitting_tilt_deg``; 7 of HAPT's 200 stops into standing
        pass the drop part).
    lying_rise_m: rise, m, that makes getting up from lying a stand-up (otherwise the tilt decides).
    sitting_tilt_deg: without a transition to go by, tilt relative to standing below which it is sitting, deg.
    sure_sitting_tilt_deg: tilt relative to standing below which it is sitting in any case, degrees.
    max_transition_s: moving epochs integrated for a transition at most, s.
    gait_s, gait_turn_deg: walking epochs in a row, each within ``gait_turn_deg`` of the inclination of the
        one before, that make sure the wearer is on their feet (s, degrees).
    min_lying_s: lying shorter than this does not make the next upright posture sitting, s.
    reference_band_deg: kept for compatibility: not used (the standing reference is a robust median now).
    reference_after_s: the standing reference learns from the still epochs this soon after walking, s.
    neutral_prior_weight: weight of the calibration's own neutral in the standing reference, per calibration
        method (guided/stored, auto, upright), in observations (one sit-down or stand-up weighs 1).
    neutral_window: observations kept for the standing reference (the latest ones: it follows the day).
    upright_sitting_incl_deg: with an upright-only calibration (no tilt), inclination from the standing
        vertical above which a rest without a transition to go by is sitting, degrees.
    upright_sure_sitting_incl_deg: the same without a tilt (upright-only calibration or an unconfirmed sign):
        a rest this far from the standing vertical, degrees, is sitting whatever came before (HAPT user 3 sat
        50° from it after a sit-down the displacement missed; standing leans reach 18–25°).
    second_drop_m: a sit-down (stand-up) of this displacement or more, m, that resumes after a single resting
        epoch and ends within 6° of where it started was a sit (stand) of 1–2 s: both movements count.
    nonwear_s: motionless seconds before a sensor counts as not worn (see :class:`NonWearDetector`).
    nonwear_acc_std, nonwear_gyro_rms: motion below sensor-noise level, m/s² and rad/s.
    hindsight: revise the epochs of the same ``update`` batch that the angle alone decided (at the start of
        a stream, after a gap, non-wear or walking) once a clear transition shows what they were: a sit-down
        scoring ``hindsight_m`` (m) or more means the wearer stood before it, a stand-up that they sat.
        For ``analyze``, which passes the whole recording as one batch; the output then depends on the
        batching, so live streams leave it off.
    """

    walking_acc_std: float = 0.9
    lying_deg: float = 75.0
    min_coverage: float = 0.5
    rest_acc_std: float = 0.3
    rest_gyro_rms: float = 0.3
    quiet_acc_std: float = 0.1
    quiet_gyro_rms: float = 0.1
    drop_m: float = 0.10
    tilt_weight_m_per_deg: float = 0.008
    max_counter_turn_deg: float = 4.0
    lying_rise_m: float = 0.15
    sitting_tilt_deg: float = -12.0
    sure_sitting_tilt_deg: float = -22.0
    max_transition_s: int = 8
    gait_s: float = 3.0
    gait_turn_deg: float = 10.0
    min_lying_s: float = 10.0
    reference_band_deg: float = 6.0
    reference_after_s: float = 8.0
    neutral_prior_weight: tuple[float, float, float] = (20.0, 0.5, 1.0)
    neutral_window: int = 40
    upright_sitting_incl_deg: float = 35.0
    upright_sure_sitting_incl_deg: float = 45.0
    second_drop_m: float = 0.25
    nonwear_s: float = 3600.0
    nonwear_acc_std: float = 0.04
    nonwear_gyro_rms: float = 0.02
    hindsight: bool = False
    hindsight_m: float = 0.2
    walk_sit_drop_m: float = 0.2
    walk_sit_min_turn_deg: float = 4.0
    walk_sit_confirm_m: float = 0.1
    min_dz_m: float = 0.05
    tilt_only_deg: float = 15.0
    truncated_drop_m: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError("min_coverage must be in (0, 1]")
        if not 0.0 < self.lying_deg < 90.0:
            raise ValueError("lying_deg must be in (0, 90) degrees")
        if not self.sure_sitting_tilt_deg <= self.sitting_tilt_deg < 0.0:
            raise ValueError("need sure_sitting_tilt_deg <= sitting_tilt_deg < 0 (degrees, posterior negative)")
        if self.drop_m <= 0 or self.lying_rise_m <= 0:
            raise ValueError("drop_m and lying_rise_m must be > 0 (metres)")
        if self.max_transition_s < 1:
            raise ValueError("max_transition_s must be >= 1 s")
        if self.nonwear_s <= 0:
            raise ValueError("nonwear_s must be > 0 s")
        if self.hindsight_m < self.drop_m:
            raise ValueError("hindsight_m must be >= drop_m (metres)")
        if len(self.neutral_prior_weight) != 3 or min(self.neutral_prior_weight) <= 0.0:
            raise ValueError("neutral_prior_weight must be 3 weights > 0 (guided/stored, auto, upright)")
        if self.neutral_window < 1:
            raise ValueError("neutral_window must be >= 1 observation")
        if not 0.0 <= self.walk_sit_min_turn_deg < 90.0:
            raise ValueError("walk_sit_min_turn_deg must be in [0, 90) degrees")
        if self.walk_sit_drop_m <= 0:
            raise ValueError("walk_sit_drop_m must be > 0 (metres)")
        if self.truncated_drop_m <= 0:
            raise ValueError("truncated_drop_m must be > 0 (metres)")


class StandingNeutral(SnapshotState):
    """The wearer's standing tilt, degrees in the calibration's frame, from observations with weights.

    ``update(tilt_deg, weight)`` adds one observation (a rest next to a sit-down or stand-up, or the stop
    after walking). ``estimate_deg``: among the prior and the last ``window`` observations, the most
    posterior *cluster* (the values from one of them to ``2 * agree_deg`` above it) that weighs
    ``cluster_weight`` or more (and at least the prior's weight, so that a guided neutral stands), and its
    weighted median; without such a cluster, the weighted median of all. People stand leaning
    forward at times (at a counter, over a desk: 8–18° anterior on the simulator) but hardly ever behind
    their neutral, so when those episodes are many the plain median was pulled anterior (simulated seed 12:
    four of eight observations 12–18° anterior, neutral standing then read as sitting). ``confidence``
    (0..1) grows with the weight that agrees with the estimate (within ``agree_deg``): ``w / (w + 3)``, so
    about 0.5 after three agreeing observations and 0.9 after 27.

    >>> n = StandingNeutral(prior_deg=0.0, prior_weight=0.5)
    >>> for tilt in (-14.0, -15.0, -13.5, 2.0):
    ...     n.update(tilt, 1.0)
    >>> round(n.estimate_deg, 1), round(n.confidence, 2)
    (-14.0, 0.5)
    """

    def __init__(
        self,
        *,
        prior_deg: float = 0.0,
        prior_weight: float = 1.0,
        window: int = 40,
        agree_deg: float = 4.0,
        cluster_weight: float = 2.0,
    ):
        self.prior_deg = prior_deg
        self.prior_weight = prior_weight
        self.window = window
        self.agree_deg = agree_deg
        self.cluster_weight = cluster_weight
        self.reset()

    def reset(self) -> None:
        self._obs: list[tuple[float, float]] = []
        self.estimate_deg = self.prior_deg
        self.confidence = self._confidence()

    def finish(self) -> None:
        """The end of the stream: nothing is held back."""

    def update(self, tilt_deg: float, weight: float) -> None:
        if not math.isfinite(tilt_deg) or weight <= 0.0:
            return
        self._obs.append((tilt_deg, weight))
        if len(self._obs) > self.window:
            self._obs.pop(0)
        self._refresh()

    def _refresh(self) -> None:
        values = sorted([(self.prior_deg, self.prior_weight), *self._obs])
        heavy = max(self.cluster_weight, self.prior_weight)  # a guided prior outweighs small clusters
        for v, _ in values:  # the most posterior cluster heavy enough, else all
            near = [(u, w) for u, w in values if v <= u <= v + 2.0 * self.agree_deg]
            if sum(w for _, w in near) >= heavy:
                values = near
                break
        half = 0.5 * sum(w for _, w in values)
        acc = 0.0
        for v, w in values:
            acc += w
            if acc >= half:
                self.estimate_deg = v
                break
        self.confidence = self._confidence()

    @property
    def effective_deg(self) -> float:
        """The estimate as far as it is trusted: none of it below confidence 0.25 (one observation), all of it
        from 0.5 (three agreeing ones), so that one anterior-tilted stand does not move the reference."""
        share = min(1.0, max(0.0, (self.confidence - 0.25) / 0.25))
        return self.prior_deg + share * (self.estimate_deg - self.prior_deg)

    def drop_last(self) -> None:
        """Forget the latest observation (it is being replaced by a better one of the same movement)."""
        if self._obs:
            self._obs.pop()
            self._refresh()

    def _confidence(self) -> float:
        pairs = [(self.prior_deg, self.prior_weight), *self._obs]
        agree = sum(w for v, w in pairs if abs(v - self.estimate_deg) <= self.agree_deg)
        return agree / (agree + 3.0)


# Posture held while upright and not walking.
_NONE, _SIT, _STAND, _LIE = range(4)


class ActivityClassifier(SnapshotState):
    """Streaming activity per epoch: ``update(features, tilt_deg, calibration) -> codes``; see the module doc.

    ``transitions`` collects the sit-downs and stand-ups found (as :class:`Transition` with ``kind``), for
    reports and tests, across calibrations (the latest :data:`MAX_TRANSITIONS`); callers may clear it.

    >>> import numpy as np
    >>> from processing.calibration import Calibration
    >>> clf = ActivityClassifier(ActivityParams())
    >>> f = _still(np.arange(3.0), tilt_deg=-20.0)
    >>> [ACTIVITIES[c] for c in clf.update(f, np.full(3, -20.0), Calibration(np.eye(3), "guided", "assumed"))]
    ['sitting', 'sitting', 'sitting']
    """

    def __init__(self, params: ActivityParams) -> None:
        self.params = params
        self.detector = TransitionDetector(max_epochs=params.max_transition_s)
        self.nonwear = NonWearDetector(
            acc_std=params.nonwear_acc_std, gyro_rms=params.nonwear_gyro_rms, after_s=params.nonwear_s
        )
        self.transitions: list[tuple[str, Transition]] = []
        self.neutral = StandingNeutral(window=params.neutral_window)
        #: (degrees, weight): a prior for the standing neutral of the next automatic calibration, from a first
        #: look at the same batch (``hindsight`` only; see :class:`processing.pipeline.PostureTracker`)
        self.neutral_hint: tuple[float, float] | None = None
        #: per epoch of the last ``update``: the standing reference as far as it is trusted (degrees, calibration
        #: frame; :attr:`StandingNeutral.effective_deg`) and its confidence
        self.neutral_deg = np.empty(0)
        self.neutral_confidence = np.empty(0)
        self.reset()

    def reset(self) -> None:
        self.detector.reset()
        self.nonwear.reset()
        self._set(_NONE)
        self._reset_neutral(None)
        self._since_upright_s = math.inf  # seconds since walking
        self._calibration: Calibration | None = None
        self._gait_s = 0.0  # seconds of steady walking in a row
        self._last_incl = math.nan
        self._lying_s = 0.0
        self._lay_down = False  # the last lying lasted min_lying_s
        self._pending: tuple[float, int, bool] | None = None  # the last transition: t_start, posture before
        self._provisional = False  # the posture came from the angle alone (hindsight may revise it)
        self._angle_label = False  # the last epoch's sitting or standing came from the angle alone
        self._revise: tuple[float, int] | None = None  # (t_start, code before) of a transition that shows it
        self._base: tuple[Transition, str] | None = None  # the movement in progress was decided: (event, kind)
        self._tilt_untrusted = False  # the calibration's anterior sign is unconfirmed (see update)

    def finish(self) -> Int8Array:
        """The end of the stream: nothing is held back (no codes)."""
        return np.empty(0, dtype=np.int8)

    @property
    def calibration(self) -> Calibration | None:
        """The calibration the state machine runs on."""
        return self._calibration

    @property
    def standing_reference_deg(self) -> float:
        """The wearer's standing tilt learnt so far, degrees relative to the calibration's neutral."""
        return self.neutral.estimate_deg

    def _reset_neutral(self, calibration: Calibration | None) -> None:
        w_guided, w_auto, w_upright = self.params.neutral_prior_weight
        method = "" if calibration is None else calibration.method
        self.neutral.prior_weight = (
            w_guided if method in ("guided", "stored") else (w_upright if method == "upright" else w_auto)
        )
        self.neutral.prior_deg = 0.0
        if self.neutral_hint is not None and method == "auto":
            self.neutral.prior_deg, self.neutral.prior_weight = self.neutral_hint
        self.neutral.reset()
        self._after_walk: list[float] = []  # still tilts of the stop after walking (one observation per stop)
        self._observed_t = math.nan  # start of the movement the last standing observation came from

    def update(
        self,
        features: EpochFeatures,
        tilt_deg: FloatArray,
        calibration: Calibration | None,
        *,
        same_mounting: bool = False,
        tilt_trusted: bool = True,
    ) -> Int8Array:
        """Activity codes (m,) for the epochs of ``features`` with their tilt (m,) degrees (NaN where undefined).

        A change of calibration starts the state machine afresh (its angles are not comparable), unless
        ``same_mounting``: the new calibration is a refinement on the same mounting (a self-calibration that
        found the anterior axis, or the walking), so the posture held carries over; the standing reference
        starts again from the new calibration's neutral. ``tilt_trusted`` False: the anterior sign is not
        confirmed yet (a self-calibration from walking), so the tilt does not decide postures.
        """
        m = len(features)
        out = np.full(m, UNKNOWN, dtype=np.int8)
        self.neutral_deg = np.full(m, np.nan)
        self.neutral_confidence = np.zeros(m)
        if calibration is not self._calibration:
            if same_mounting and self._calibration is not None and calibration is not None:
                self._reset_neutral(calibration)
                if self._provisional:  # a posture the angle alone decided: decide it again on the new angles
                    self._set(_NONE)
            else:
                self.reset()
                self._reset_neutral(calibration)
            self._calibration = calibration
        if calibration is None or m == 0:
            return out
        # the tilt is there but its sign unconfirmed (the inclination is then from the walking vertical)
        self._tilt_untrusted = calibration.method != "upright" and not tilt_trusted
        if calibration.method == "upright" or not tilt_trusted:
            # no anterior axis, or its sign still unconfirmed (from walking): the tilt does not decide
            tilt_deg = np.full(m, np.nan)
        p = self.params
        present = features.coverage >= p.min_coverage
        incl = np.degrees(np.arccos(np.clip(features.up @ calibration.rotation[2], -1.0, 1.0)))
        gyro_rms = np.sqrt(np.maximum(np.trace(features.gyro_cov, axis1=1, axis2=2), 0.0))
        acc_std = features.acc_norm_std
        rest = (acc_std < p.rest_acc_std) & (gyro_rms < p.rest_gyro_rms)
        quiet = (acc_std < p.quiet_acc_std) & (gyro_rms < p.quiet_gyro_rms)
        if features.vert_acc is not None and features.vert_acc_late is not None:
            vert, late = features.vert_acc, features.vert_acc_late
        else:  # hand-made features: no vertical acceleration, so no transitions
            vert = late = np.full(m, np.nan)
        by_angle: list[int] = []  # this batch's epochs labelled by the angle alone since the posture was known
        for i in range(m):
            code = self._step(
                float(features.t[i]),
                bool(present[i]) and bool(np.isfinite(incl[i])),
                bool(rest[i]),
                bool(quiet[i]),
                float(acc_std[i]),
                float(gyro_rms[i]),
                float(vert[i]),
                float(late[i]),
                float(incl[i]),
                float(tilt_deg[i]),
                features.up[i],
            )
            if self._revise is not None:
                t_start, before = self._revise
                self._revise = None
                if p.hindsight:
                    for j in by_angle:
                        if features.t[j] < t_start and out[j] != WALKING:
                            out[j] = before
                by_angle.clear()
            out[i] = code
            self.neutral_deg[i] = self.neutral.effective_deg
            self.neutral_confidence[i] = self.neutral.confidence
            if self._angle_label:
                by_angle.append(i)
            else:
                by_angle.clear()
        if len(self.transitions) > MAX_TRANSITIONS:
            del self.transitions[:-MAX_TRANSITIONS]
        return out

    def _step(
        self,
        t: float,
        present: bool,
        rest: bool,
        quiet: bool,
        acc_std: float,
        gyro_rms: float,
        vert: float,
        late: float,
        incl: float,
        tilt: float,
        up: FloatArray,
    ) -> int:
        p = self.params
        self._angle_label = False
        up3 = (float(up[0]), float(up[1]), float(up[2])) if present else (0.0, 0.0, 1.0)
        if self.nonwear.update(present=present, acc_std=acc_std, gyro_rms=gyro_rms, up=up3, incl_deg=incl):
            self.detector.reset()
            self._set(_NONE)
            return UNKNOWN
        if not present:
            self.detector.reset()
            self._set(_NONE)
            return UNKNOWN
        self._since_upright_s += 1.0
        walking = acc_std > p.walking_acc_std
        # Gait keeps the pelvis' inclination; the vigorous epochs of a transition do not.
        steady = walking and abs(incl - self._last_incl) < p.gait_turn_deg
        self._gait_s = self._gait_s + 1.0 if steady else 0.0
        self._last_incl = incl
        gait = self._gait_s >= p.gait_s
        event = self.detector.update(
            t, present=True, rest=rest, vert_acc=vert, vert_acc_late=late, incl_deg=incl, tilt_deg=tilt,
            up=up3, walking=gait, quiet=quiet,
        )  # fmt: skip
        if event is not None:
            self._on_transition(event)
        if incl > p.lying_deg:
            self._lying_s += 1.0
            # Brief lying-like readings (clipping the sensor on, picking something up) are not lying down.
            self._set(_LIE if self._lying_s >= p.min_lying_s else _NONE)
            return LYING
        if self._lying_s > 0.0:
            self._lay_down = self._lying_s >= p.min_lying_s
            self._lying_s = 0.0
        if walking:
            if gait:  # a few vigorous epochs may be part of a transition: the transition decides
                self._set(_STAND)
                self._since_upright_s = 0.0
            self._angle_label = self._posture == _NONE or self._provisional  # (not revised: still walking)
            return WALKING
        rel = tilt - self.neutral.effective_deg
        # without a tilt: a rest this far from the standing vertical (and not lying) is no standing
        sure_incl = not math.isfinite(tilt) and incl > p.upright_sure_sitting_incl_deg
        if math.isfinite(tilt):
            by_angle = _SIT if rel < p.sitting_tilt_deg else _STAND
        else:  # upright-only calibration: no tilt, but a pelvis leaning far from the standing vertical sits
            by_angle = _SIT if incl > p.upright_sitting_incl_deg else _STAND
        if self._posture == _NONE:
            # Without a transition the angle decides, from rest epochs only (not the moving ones of getting
            # the sensor on or of settling), until a transition or gait shows the posture.
            if not quiet:
                self._angle_label = True
                return SITTING if by_angle == _SIT else STANDING
            self._set(by_angle, provisional=True)
        elif self._posture == _LIE:
            self._set(_SIT)  # up from lying without rising: sitting (a stand-up would have raised the pelvis)
        elif self._posture == _STAND and rest and (rel < p.sure_sitting_tilt_deg or sure_incl):
            self._set(_SIT)
        if self._posture == _STAND and self._since_upright_s <= p.reference_after_s and math.isfinite(tilt):
            if quiet:  # the stop after walking: one observation per stop, from its still seconds
                self._after_walk.append(tilt)
        elif self._after_walk:
            self._flush_after_walk()
        self._angle_label = self._provisional
        return SITTING if self._posture == _SIT else STANDING

    def _flush_after_walk(self) -> None:
        if len(self._after_walk) >= 2:
            self.neutral.update(float(np.median(self._after_walk)), 0.5)
        self._after_walk = []

    def _on_transition(self, event: Transition) -> None:
        """Update the posture from a transition (one with the same start supersedes the previous one)."""
        self._after_walk = []
        base = self._base
        if self._pending is not None and self._pending[0] == event.t_start:
            self._set(*self._pending[1:])
            if self.transitions and self.transitions[-1][1].t_start == event.t_start:
                self.transitions.pop()
        else:
            self._pending = (event.t_start, self._posture, self._provisional)
            base = self._base = None
        n_before = len(self.transitions)
        self._judge(event)
        if len(self.transitions) > n_before:
            self._base = (event, self.transitions[-1][0])
        elif base is not None and not event.truncated and not self._quick_sit(event, base):
            self._hold(event, base)  # the decided part stays the reference while the movement goes on

    def _hold(self, event: Transition, base: tuple[Transition, str]) -> None:
        """The longer integration of a decided sit-down (stand-up) decides nothing, but the pelvis stayed where
        the decided part left it (within 6°), after turning by ``tilt_only_deg`` or more: the extra seconds
        only added drift to the displacement (it grows with the square of the time), so the decision stands.
        (HAPT user 3 stood up from 37° to 8° from the standing vertical, +0.36 m; 5 s later the same movement
        integrated to -0.06 m, ending at 6°: the standing read as sitting until the next transition.)"""
        first, kind = base
        if first.incl_before_deg > self.params.lying_deg:
            return  # up from lying: the displacement alone decides, the longer integration is the better one
        dot = sum(a * b for a, b in zip(first.up_after, event.up_after, strict=True))
        if first.turn_deg < self.params.tilt_only_deg or dot < _COS_BACK:
            return
        self._set(_SIT if kind == "stand-to-sit" else _STAND)
        self.transitions.append((kind, first))

    def _quick_sit(self, event: Transition, base: tuple[Transition, str]) -> bool:
        """A clear sit-down (stand-up) resumed after a single resting epoch and the whole movement went back
        where it started: a sit (stand) of 1–2 s, then up (down) again. Both count; the posture is the final one.
        False when it was no such sit."""
        first, kind = base
        dot = sum(a * b for a, b in zip(event.up_before, event.up_after, strict=True))
        if abs(first.dz_m) < self.params.second_drop_m or dot < _COS_BACK or event.t_end <= first.t_end:
            return False
        second = dataclasses.replace(
            event,
            t_start=first.t_end,
            dz_m=event.dz_m - first.dz_m,
            incl_before_deg=first.incl_after_deg,
            tilt_before_deg=first.tilt_after_deg,
            up_before=first.up_after,
            after_walking=False,
        )
        self.transitions.append((kind, first))
        other = "sit-to-stand" if kind == "stand-to-sit" else "stand-to-sit"
        self.transitions.append((other, second))
        self._base = (event, other)
        return True

    def _judge(self, event: Transition) -> None:
        """Sit-down, stand-up or neither, from one movement between two rests."""
        p = self.params
        if event.incl_after_deg > p.lying_deg or (event.truncated and not event.from_rest):
            return
        turn = event.tilt_after_deg - event.tilt_before_deg
        if not math.isfinite(turn):  # tilt unknown (upright-only calibration): the displacement alone
            turn = 0.0
        score = event.dz_m + p.tilt_weight_m_per_deg * turn
        counter = turn  # the turn the counter-turn checks go by (the tilt's only)
        if event.incl_before_deg > p.lying_deg:
            if event.dz_m >= p.lying_rise_m:
                self._stand_up(event)
            else:  # up from lying without rising: sitting after real lying, else the tilt decides
                self._set(_SIT if self._lay_down else _NONE)
            return
        if event.after_walking:
            # Straight from walking the displacement is unreliable (a step is under way): the tilt decides,
            # unless it cannot (sign unconfirmed): then a clear lean (or drop) away from the gait is a sit-down.
            if not math.isfinite(event.tilt_after_deg) and self._sat_from_walking(event):
                self._set(_SIT, provisional=True)
                self.transitions.append(("stand-to-sit", event))
            elif turn <= -p.walk_sit_min_turn_deg and self._sat_from_walking(event, strict=True):
                self._set(_SIT)  # both integrations dropped and the pelvis turned back from the gait
                self.transitions.append(("stand-to-sit", event))
            else:
                self._set(_NONE)
            return
        unsure = self._posture == _NONE or self._provisional
        if not math.isfinite(event.tilt_after_deg - event.tilt_before_deg) and not self._tilt_untrusted:
            # No tilt, but the inclination is from the standing vertical: coming back toward it is the forward
            # turn of a stand-up, leaving it the backward one of a sit-down (a stand-up whose displacement
            # drifted to +0.07 m came back 29° toward it, HAPT user 13 on an upright-only calibration)
            turn = event.incl_before_deg - event.incl_after_deg
            score = event.dz_m + p.tilt_weight_m_per_deg * turn
        if abs(turn) < p.tilt_only_deg and abs(event.dz_m) < p.min_dz_m:
            return  # the pelvis neither rose nor fell: a lean while seated (or standing), not a transition
        if event.truncated and abs(score) < p.truncated_drop_m:
            return  # the tail of a longer movement, integrated from a rest that may not be still: only clear ones
        if score <= -p.drop_m and counter <= p.max_counter_turn_deg:
            self._set(_SIT)
            self.transitions.append(("stand-to-sit", event))
            self._observe(event.t_start, event.tilt_before_deg)
            if unsure and score <= -p.hindsight_m:
                self._revise = (event.t_start, STANDING)
        elif score >= p.drop_m and counter >= -p.max_counter_turn_deg:
            self._stand_up(event)
            if unsure and score >= p.hindsight_m:
                self._revise = (event.t_start, SITTING)

    def _sat_from_walking(self, event: Transition, *, strict: bool = False) -> bool:
        """A stop straight from walking that is a sit-down by mounting-free cues (see ``walk_sit_drop_m``);
        ``strict``: both integrations must show the drop (``walk_sit_confirm_m``)."""
        p = self.params
        confirm = p.walk_sit_confirm_m if strict else None
        return WalkSitRule(drop_m=p.walk_sit_drop_m, min_turn_deg=p.walk_sit_min_turn_deg, confirm_m=confirm).sat(event)

    def _set(self, posture: int, provisional: bool = False) -> None:
        self._posture = posture
        self._provisional = provisional

    def _stand_up(self, event: Transition) -> None:
        self._set(_STAND)
        self.transitions.append(("sit-to-stand", event))
        self._observe(event.t_start, event.tilt_after_deg)

    def _observe(self, t_start: float, tilt_deg: float) -> None:
        """One standing observation per movement: a superseding event of the same movement replaces it."""
        if self._observed_t == t_start:
            self.neutral.drop_last()
        self.neutral.update(tilt_deg, 1.0)
        self._observed_t = t_start if math.isfinite(tilt_deg) else math.nan


def _still(t: FloatArray, *, tilt_deg: float) -> EpochFeatures:
    """Complete still epochs at a fixed tilt with an identity mounting (for examples)."""
    a = math.radians(tilt_deg)
    n = t.shape[0]
    up = np.tile([-math.sin(a), 0.0, math.cos(a)], (n, 1))
    zeros = np.zeros((n, 3, 3))
    return EpochFeatures(
        k=t.astype(np.int64),
        t=t,
        count=np.full(n, 50, np.int64),
        coverage=np.ones(n),
        up=up,
        acc_mean=up * 9.80665,
        acc_cov=zeros,
        gyro_mean=np.zeros((n, 3)),
        gyro_cov=zeros,
        acc_norm_std=np.full(n, 0.05),
        vert_acc=np.zeros(n),
        vert_acc_late=np.zeros(n),
    )


def classify(
    features: EpochFeatures,
    tilt_deg: FloatArray,
    calibration: Calibration | None,
    params: ActivityParams,
) -> Int8Array:
    """Activity codes (m,) for one stand-alone batch of epochs (a fresh :class:`ActivityClassifier`).

    Streams must keep one classifier across batches instead: the state machine needs the epochs before.
    """
    return ActivityClassifier(params).update(features, tilt_deg, calibration)
