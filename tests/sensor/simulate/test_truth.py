"""Ground truth per epoch and the truth CSV."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from sensor.simulate import (
    ACTIVITIES,
    EpochTruthBuilder,
    SensorModel,
    epoch_truth,
    parse_scenario,
    simulate,
    simulate_chunks,
    write_truth_csv,
)


def test_epoch_truth_and_csv(tmp_path: Path) -> None:
    samples, truth = simulate(parse_scenario("stand 5.5, sit 10, walk 6.5"), SensorModel(jitter_s=0.002), seed=3)
    epochs = epoch_truth(truth)
    assert len(epochs) == 22
    np.testing.assert_array_equal(epochs.t, np.arange(22.0))
    assert list(epochs.activity[:5]) == ["standing"] * 5 and list(epochs.activity[-3:]) == ["walking"] * 3
    assert epochs.transition[5] and not epochs.transition[10] and epochs.transition[16]
    assert "walking" not in truth.activity[truth.transition]  # getting up comes before the first step
    k = np.floor(truth.t).astype(int)
    assert epochs.tilt_deg[12] == pytest.approx(truth.tilt_deg[k == 12].mean())
    assert epochs.n_samples.sum() == len(samples)

    builder = EpochTruthBuilder()
    parts = [
        builder.update(chunk)
        for _, chunk in simulate_chunks(
            parse_scenario("stand 5.5, sit 10, walk 6.5"), SensorModel(jitter_s=0.002), seed=3, chunk_s=0.77
        )
    ]
    parts.append(builder.finish())
    streamed = type(epochs).concat(parts)
    for name in ("t", "activity", "transition", "n_samples"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(epochs, name))
    np.testing.assert_allclose(streamed.tilt_deg, epochs.tilt_deg, rtol=1e-12)

    for name in ("truth.csv", "truth.csv.gz"):
        path = tmp_path / name
        write_truth_csv(path, parts)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["t", "activity", "tilt_deg", "obliquity_deg", "transition"]
        assert len(rows) == 23
        assert rows[6][0] == "5" and rows[6][1] in ACTIVITIES and rows[6][4] == "1"
        assert float(rows[13][2]) == pytest.approx(epochs.tilt_deg[12], abs=1e-3)
