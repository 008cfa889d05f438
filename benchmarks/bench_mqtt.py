"""MQTT throughput and outage behaviour through a real Mosquitto (started here on free ports, like the tests).

Prints tables:
1. alert throughput (durable outbox -> broker PUBACK -> subscriber) for a few in-flight windows, and the cost
   of one ``publish_alert`` call (SQLite insert with fsync);
2. state messages per second (retained, QoS 0) and how many a subscriber saw;
3. a 5 s broker outage while alerts flow at 20/s: produced during the outage, drain time after the restart,
   lost, out of order, duplicates;
4. a restart with a backlog in the outbox: time to deliver it.

Run: ``python benchmarks/bench_mqtt.py`` (needs mosquitto and openssl; about 30-40 s).
"""

from __future__ import annotations

import itertools
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hipsense.mqtt import BrokerSettings, Publisher  # noqa: E402
from tests.support.broker import Broker, Collector, Received, _find_mosquitto, make_tls_files  # noqa: E402

BASE = "hipsense/bench"


def alert(i: int) -> dict[str, Any]:
    return {
        "id": f"b-{i:06d}",
        "event_type": "prolonged_sitting",
        "time": "2024-05-01T10:32:00+02:00",
        "message": "You have been sitting for 30 minutes; stand up and walk for 2 minutes.",
        "sitting_bout_s": 1800,
    }


def state(i: int) -> dict[str, Any]:
    return {
        "time": "2024-05-01T10:32:00+02:00",
        "activity": "sitting",
        "tilt_deg": -18.0 + (i % 100) / 10,
        "obliquity_deg": 1.2,
        "sitting_bout_s": float(i),
        "sitting_today_s": 9000.0 + i,
        "calibrated": True,
        "battery_pct": 80,
    }


def at_least(n: int) -> Callable[[list[Received]], bool]:
    return lambda messages: len(messages) >= n


def publisher(broker: Broker, outbox: Path, **kw: Any) -> Publisher:
    settings = BrokerSettings.from_url(broker.url, keepalive_s=5, env={})
    kw.setdefault("reconnect_min_s", 1)
    kw.setdefault("reconnect_max_s", 1)
    return Publisher(settings, wearer="bench", outbox_path=outbox, discovery_prefix=None, **kw)


def order_check(collector: Collector, n: int) -> tuple[int, int, int]:
    """(lost, out of order, duplicates) among ids b-000000 .. b-{n-1}."""
    first_seen: dict[str, None] = {}
    dups = 0
    for m in collector.on(f"{BASE}/alert"):
        i = m.json()["id"]
        if i in first_seen:
            dups += 1
        first_seen.setdefault(i, None)
    expected = [f"b-{i:06d}" for i in range(n)]
    got = [i for i in first_seen if i in set(expected)]
    lost = n - len(got)
    out_of_order = sum(1 for a, b in itertools.pairwise(got) if a > b)
    return lost, out_of_order, dups


def bench_alerts(broker: Broker, work: Path) -> None:
    print("\n1. alerts: outbox -> broker -> subscriber (QoS 1, fsync per alert)")
    print(f"{'window':>7} {'alerts':>7} {'put ms mean':>12} {'put ms p99':>11} {'acked/s':>9} {'received/s':>11}")
    n = 500
    for window in (1, 10, 50):
        sub = Collector(broker.port, [f"{BASE}/alert"], client_id=f"bench-alerts-{window}")
        try:
            with publisher(broker, work / f"alerts-{window}.sqlite3", window=window) as pub:
                puts = []
                t0 = time.perf_counter()
                for i in range(n):
                    a = time.perf_counter()
                    pub.publish_alert(alert(i))
                    puts.append(time.perf_counter() - a)
                assert pub.flush(120)
                t_acked = time.perf_counter() - t0
            assert sub.wait_for(lambda ms: len(ms) >= n, 60)
            t_received = time.perf_counter() - t0
            lost, ooo, _ = order_check(sub, n)
            assert lost == 0 and ooo == 0
        finally:
            sub.close()
        p99 = statistics.quantiles(puts, n=100)[98]
        print(
            f"{window:>7} {n:>7} {1e3 * statistics.mean(puts):>12.2f} {1e3 * p99:>11.2f} "
            f"{n / t_acked:>9.0f} {n / t_received:>11.0f}"
        )


def bench_state(broker: Broker, work: Path) -> None:
    print("\n2. state: retained JSON, QoS 0 (every message differs)")
    n = 20_000
    sub = Collector(broker.port, [f"{BASE}/state"], client_id="bench-state")
    try:
        with publisher(broker, work / "state.sqlite3") as pub:
            t0 = time.perf_counter()
            sent = sum(pub.publish_state(state(i)) for i in range(n))
            t_pub = time.perf_counter() - t0
            sub.wait_for(lambda ms: len(ms) >= sent, 30)
            t_recv = time.perf_counter() - t0
    finally:
        sub.close()
    print(f"{'published':>10} {'calls/s':>9} {'received':>9} {'received/s':>11}")
    print(f"{sent:>10} {n / t_pub:>9.0f} {len(sub.messages):>9} {len(sub.messages) / t_recv:>11.0f}")


def bench_outage(broker: Broker, work: Path) -> None:
    print("\n3. broker outage of 5 s while alerts flow at 20/s (10 s of alerts)")
    n, period = 200, 0.05
    produced = [0]
    sub = Collector(broker.port, [f"{BASE}/alert"], client_id="bench-outage")
    try:
        with publisher(broker, work / "outage.sqlite3") as pub:

            def produce() -> None:
                for i in range(n):
                    pub.publish_alert(alert(i))
                    produced[0] = i + 1
                    time.sleep(period)

            producer = threading.Thread(target=produce)
            producer.start()
            time.sleep(2.0)
            broker.stop()
            time.sleep(5.0)
            waiting, before = pub.pending_alerts, produced[0]
            t_restart = time.perf_counter()
            broker.start()
            pub.wait_connected(30)
            t_conn = time.perf_counter() - t_restart
            wanted = {f"b-{i:06d}" for i in range(before)}
            sub.wait_for(lambda ms: wanted <= {m.json()["id"] for m in ms}, 30)
            t_drain = time.perf_counter() - t_restart
            producer.join()
            assert pub.flush(30)
        sub.wait_for(lambda ms: len({m.json()["id"] for m in ms}) >= n, 30)
        lost, ooo, dups = order_check(sub, n)
    finally:
        sub.close()
    head = ("waiting at restart", "reconnect s", "all earlier received s", "lost", "out of order", "dups")
    print("{:>18} {:>12} {:>23} {:>5} {:>13} {:>5}".format(*head))
    print(f"{waiting:>18} {t_conn:>12.2f} {t_drain:>23.2f} {lost:>5} {ooo:>13} {dups:>5}")


def bench_backlog(broker: Broker, work: Path) -> None:
    print("\n4. restart with a backlog in the outbox (stored while the broker was down)")
    print(f"{'backlog':>8} {'start s':>8} {'delivered in s':>15} {'lost':>5} {'out of order':>13}")
    for n in (100, 2000):
        path = work / f"backlog-{n}.sqlite3"
        sub = Collector(broker.port, [f"{BASE}/alert"], client_id=f"bench-backlog-{n}")
        try:
            broker.stop()
            with publisher(broker, path, startup_wait_s=1) as pub:
                for i in range(n):
                    pub.publish_alert(alert(i))
            broker.start()
            # a live subscriber: a disconnected one would hit the broker's per-client queue limit
            # (mosquitto max_queued_messages, default 1000) with the larger backlog
            deadline = time.monotonic() + 10
            while not sub.client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.02)
            t0 = time.perf_counter()
            with publisher(broker, path) as pub:
                t_start = time.perf_counter() - t0
                assert pub.flush(120)
                t_done = time.perf_counter() - t0
            sub.wait_for(at_least(n), 30)
            lost, ooo, _ = order_check(sub, n)
        finally:
            sub.close()
        print(f"{n:>8} {t_start:>8.2f} {t_done:>15.2f} {lost:>5} {ooo:>13}")


def main() -> int:
    logging.basicConfig(level=logging.ERROR)  # the expected "broker not reachable" warnings are noise here
    exe = _find_mosquitto()
    if exe is None:
        print("mosquitto is not installed; nothing to measure", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Broker(exe=exe, workdir=work / "broker", tls=make_tls_files(work / "tls"))
        broker.write_config()
        broker.start()
        try:
            bench_alerts(broker, work)
            bench_state(broker, work)
            bench_outage(broker, work)
            bench_backlog(broker, work)
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
