import numpy as np
import pytest

from processing.epochs import EpochAccumulator


def _run(t, values, chunks):
    acc = EpochAccumulator(values.shape[1])  # values (n, c); the accumulator takes (c, n)
    parts = []
    start = 0
    for size in chunks:
        out = acc.update(t[start : start + size], np.ascontiguousarray(values[start : start + size].T))
        parts.append(out)
        start += size
    assert start == len(t)
    parts.append(acc.finish())
    return (
        np.concatenate([p.k for p in parts]),
        np.concatenate([p.count for p in parts]),
        np.concatenate([p.sums for p in parts]),
    )


def test_epochs_count_samples_and_report_empty_epochs_in_gaps():
    t = np.concatenate([np.arange(0, 2, 0.01), np.arange(5, 6, 0.01)])
    values = np.ones((len(t), 2))
    k, count, sums = _run(t, values, [len(t)])
    assert k.tolist() == [0, 1, 2, 3, 4, 5]
    assert count.tolist() == [100, 100, 0, 0, 0, 100]
    assert sums[:, 0].tolist() == [100, 100, 0, 0, 0, 100]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_epochs_are_chunk_invariant(chunk):
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.005, 0.015, 3000)) + 12.3
    values = rng.normal(size=(3000, 3))
    whole = _run(t, values, [len(t)])
    sizes = [chunk] * (len(t) // chunk) + ([len(t) % chunk] if len(t) % chunk else [])
    parts = _run(t, values, sizes)
    np.testing.assert_array_equal(whole[0], parts[0])
    np.testing.assert_array_equal(whole[1], parts[1])
    np.testing.assert_allclose(whole[2], parts[2], rtol=0, atol=1e-9)
