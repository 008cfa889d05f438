"""What ``replay`` and ``live`` set up alike around the runtime loop: the wearer, the stored calibration, the
MQTT publisher and the history-store sink."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from hipsense.calstore import load_calibration
from hipsense.config import Config, WearerConfig, ensure_wearer_id
from hipsense.mqtt import BrokerSettings, Publisher, publisher_from_config
from hipsense.runtime import StoreSink, restore_day, rules_key
from hipsense.store import HistoryStore
from processing.calibration import Calibration
from processing.pipeline import Pipeline


def add_session_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wearer", metavar="ID", default=None, help="wearer id for MQTT topics and alert ids (a-z0-9_-)")
    p.add_argument(
        "--no-stored-calibration",
        action="store_true",
        help="ignore the calibration stored by 'hipsense calibrate' and calibrate from walking instead",
    )


def wearer_id(args: argparse.Namespace, config: Config) -> str:
    """``--wearer`` (checked), else the config's; without one there, a new id unique to this install is made
    and written to the config file (see :func:`hipsense.config.ensure_wearer_id`)."""
    return WearerConfig(id=args.wearer).id if args.wearer else ensure_wearer_id(config)


def stored_calibration(args: argparse.Namespace, wearer: str, device: str) -> Calibration | None:
    """The calibration ``hipsense calibrate`` stored for this wearer and device, unless --no-stored-calibration."""
    calibration = None if args.no_stored_calibration else load_calibration(wearer, device)
    if calibration is not None:
        print(f"using the stored {calibration.method} calibration of wearer {wearer}, device {device}", file=sys.stderr)
    return calibration


def started_publisher(config: Config, broker: BrokerSettings | None, wearer: str) -> Publisher | None:
    """The MQTT publisher, connected (or connecting in the background), or None without a broker."""
    publisher = publisher_from_config(config, broker=broker, wearer=wearer) if broker else None
    if publisher is not None:
        publisher.start()
    return publisher


def store_sink(
    store: HistoryStore,
    pipeline: Pipeline,
    config: Config,
    *,
    on_flush: Callable[[HistoryStore], None] | None = None,
) -> StoreSink:
    """The sink writing the run to the history store, with the config's anterior-tilt threshold and retention."""
    return StoreSink(
        store,
        pipeline.tracker.clock,
        anterior_tilt_deg=config.alerts.anterior_tilt_deg,
        flush_s=1.0,
        retention_days=config.store.retention_days,
        on_flush=on_flush,
        alert_state=pipeline.alert_state,
        rules_key=rules_key(pipeline.params.wearer),
    )


def restore_from_store(store: HistoryStore, pipeline: Pipeline, config: Config) -> None:
    """Continue the local day from the history store (totals, sitting bout, alert rules) and say so."""
    restored = restore_day(
        pipeline, store, wearer=pipeline.params.wearer, anterior_tilt_deg=config.alerts.anterior_tilt_deg
    )
    if restored.sitting_s > 0 or restored.bout_s > 0 or restored.rules_as_of is not None:
        print(restored.describe(), file=sys.stderr)
