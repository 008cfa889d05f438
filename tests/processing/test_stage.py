"""The streaming contract (processing/stage.py): every stage has update, finish, reset, snapshot and restore,
and they behave: a restored snapshot replays the stream, a reset stage is a fresh one."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from typing import Any

import numpy as np
import pytest

import processing
from processing import alerts
from processing.alerts import AlertParams
from processing.pipeline import Pipeline, PipelineOutput, PipelineParams
from processing.stage import Stage
from sensor.simulate import SensorModel, parse_scenario, simulate

#: Parts of a stage rather than stages: each alert kind has ``update``, ``reset``, ``state`` and ``restore`` and
#: lives inside :class:`AlertRules`, whose snapshot holds them.
PARTS = {
    alerts.ProlongedSitting,
    alerts.AnteriorTilt,
    alerts.DailySittingBudget,
    alerts.ExerciseReminder,
}
CONTRACT = ("update", "finish", "reset", "snapshot", "restore")


def _stage_classes() -> list[type]:
    """Every class in processing/ that streams (has an ``update`` method), protocols left out."""
    found = []
    for info in pkgutil.walk_packages(processing.__path__, prefix="processing."):  # sub-packages too (alerts/)
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or getattr(cls, "_is_protocol", False):
                continue
            if callable(getattr(cls, "update", None)):
                found.append(cls)
    return found


def test_every_streaming_class_in_processing_keeps_the_contract() -> None:
    classes = _stage_classes()
    names = {c.__name__ for c in classes}
    # The walk finds the stages (a sanity check that it looks where they are).
    assert {"Pipeline", "PostureTracker", "FeatureExtractor", "OrientationEstimator", "AlertRules"} <= names
    missing = {
        c.__name__: [m for m in CONTRACT if not callable(getattr(c, m, None))] for c in classes if c not in PARTS
    }
    assert {name: m for name, m in missing.items() if m} == {}


def _walk(obj: Any, seen: set[int]) -> list[Any]:
    """The objects of processing/ reachable from ``obj`` through attributes, lists and dicts."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    out = []
    if type(obj).__module__.startswith("processing."):
        out.append(obj)
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, list | tuple):
        children = list(obj)
    elif hasattr(obj, "__dict__"):
        children = list(vars(obj).values())
    elif dataclasses.is_dataclass(obj):
        children = [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    else:
        children = []
    for child in children:
        out += _walk(child, seen)
    return out


def _stream() -> tuple[Pipeline, list[Any]]:
    samples, _ = simulate(
        parse_scenario("stand 20, walk 40, sit 200, stand 20, walk 40, stand 30 tilt=14, sit 90"),
        SensorModel(rate_hz=50.0),
        seed=3,
    )
    alert_params = AlertParams(prolonged_sitting_s=120.0, prolonged_sitting_repeat_s=30.0, anterior_tilt_s=20.0)
    pipeline = Pipeline(PipelineParams(rate_hz=50.0, alerts=alert_params))
    cuts = np.searchsorted(samples.t, [150.0, 300.0])
    chunks = [samples.slice(0, int(cuts[0])), samples.slice(int(cuts[0]), int(cuts[1])), samples.slice(int(cuts[1]))]
    return pipeline, chunks


def test_every_stage_inside_a_running_pipeline_keeps_the_contract() -> None:
    pipeline, chunks = _stream()
    pipeline.update(chunks[0])
    stages = [o for o in _walk(pipeline, set()) if callable(getattr(o, "update", None)) and type(o) not in PARTS]
    kinds = {type(s).__name__ for s in stages}
    assert {"Pipeline", "PostureTracker", "FeatureExtractor", "OrientationUp", "OrientationEstimator"} <= kinds
    assert {"EpochAccumulator", "MountingTracker", "ActivityClassifier", "TransitionDetector", "BoutTracker"} <= kinds
    assert {"NonWearDetector", "StandingNeutral", "ExerciseDetector", "AlertRules"} <= kinds
    assert [type(s).__name__ for s in stages if not isinstance(s, Stage)] == []


def _run(pipeline: Pipeline, chunks: list[Any]) -> list[PipelineOutput]:
    return [pipeline.update(c) for c in chunks] + [pipeline.finish()]


def _same(a: list[PipelineOutput], b: list[PipelineOutput]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for name in x.epochs.__slots__:
            np.testing.assert_array_equal(getattr(x.epochs, name), getattr(y.epochs, name), err_msg=name)
        assert x.alerts == y.alerts and x.bouts == y.bouts and x.exercise == y.exercise


def test_a_restored_snapshot_replays_the_stream_and_a_reset_pipeline_is_a_fresh_one() -> None:
    pipeline, chunks = _stream()
    fresh = _run(Pipeline(pipeline.params), chunks)
    assert sum(len(o.alerts) for o in fresh) >= 2 and sum(len(o.bouts) for o in fresh) >= 1  # something happens
    first = pipeline.update(chunks[0])
    saved = pipeline.snapshot()
    rest = _run(pipeline, chunks[1:])
    _same([first, *rest], fresh)
    pipeline.restore(saved)
    _same([first, *_run(pipeline, chunks[1:])], fresh)
    pipeline.reset()
    _same(_run(pipeline, chunks), fresh)


def test_a_snapshot_fits_only_its_own_kind_of_stage() -> None:
    pipeline, _ = _stream()
    with pytest.raises(ValueError, match="a snapshot of Pipeline does not fit"):
        pipeline.tracker.restore(pipeline.snapshot())
