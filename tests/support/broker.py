"""The MQTT test harness: a real Mosquitto broker started per test on random free ports in a temp dir.

Three listeners on 127.0.0.1: ``port`` (anonymous), ``auth_port`` (password file) and ``tls_port`` (TLS with
a CA and server certificate generated here with the ``openssl`` command). The broker keeps persistent sessions
on disk, so it can be stopped and restarted on the same ports (outage tests) without losing what it queued for
a subscriber. The fixtures (``broker``, ``collect``, ``tls_files``, ``subprocess_env``) are in
``tests/hipsense/conftest.py``; tests skip with a clear message if mosquitto or openssl is not installed.

:class:`Collector` is a plain paho subscriber that records what arrives, with a persistent session so that
messages published while it is disconnected (the broker restarting) still reach it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

REPO = Path(__file__).resolve().parents[2]
BROKER_USER = "hs-user-7f3a"
BROKER_PASSWORD = "pw-9c2e-SECRET"


def _find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


_HANDED_OUT: set[int] = set()


def _free_port() -> int:
    """A free loopback port, never one handed out before in this session (the OS may offer a just-closed port
    again, and a broker's three listeners must differ)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _password_line(user: str, password: str) -> str:
    """A mosquitto 2 password-file line ($7$: PBKDF2-SHA512, 101 iterations), without mosquitto_passwd."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    return f"{user}:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n"


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(d: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost in ``d`` (EC P-256, 2 days).

    Raises FileNotFoundError if the openssl command is missing.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command is not installed (needed to make test certificates)")
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=hipsense test CA", "-out", "ca.crt")
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    run("req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt",
    )  # fmt: skip
    for name in ("ca.crt", "server.crt", "server.key"):
        (d / name).chmod(0o644)  # readable by the mosquitto user if the broker drops root
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key")


@dataclass
class Broker:
    """One mosquitto process; ``stop()`` / ``start()`` keep the ports, config and persistence."""

    exe: str
    workdir: Path
    tls: TlsFiles
    port: int = field(default_factory=_free_port)
    auth_port: int = field(default_factory=_free_port)
    tls_port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.auth_port}"

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "passwd").write_text(_password_line(BROKER_USER, BROKER_PASSWORD))
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    # Running as root, mosquitto would drop to the user 'mosquitto', which cannot write the
                    # temp dir; stay root (ignored when the tests do not run as root).
                    "user root",
                    "per_listener_settings true",
                    "persistence true",
                    f"persistence_location {self.workdir}/",
                    "autosave_interval 0",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    f"listener {self.auth_port} 127.0.0.1",
                    "allow_anonymous false",
                    f"password_file {self.workdir / 'passwd'}",
                    f"listener {self.tls_port} 127.0.0.1",
                    "allow_anonymous true",
                    f"cafile {self.tls.ca_cert}",
                    f"certfile {self.tls.server_cert}",
                    f"keyfile {self.tls.server_key}",
                    "",
                ]
            )
        )
        return conf

    def start(self, timeout_s: float = 5.0) -> None:
        assert self.proc is None, "broker already running"
        conf = self.workdir / "mosquitto.conf"
        if not conf.exists():
            self.write_config()
        self.proc = subprocess.Popen([self.exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        pending = {self.port, self.auth_port, self.tls_port}
        while pending:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                self.proc = None
                raise RuntimeError(f"mosquitto exited at start: {err.strip()} {log[-2000:]}")
            for port in list(pending):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        pending.discard(port)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not open ports {sorted(pending)} within {timeout_s} s")
            if pending:
                time.sleep(0.02)

    def stop(self) -> None:
        """Graceful stop (SIGTERM): mosquitto saves persistent sessions and their queued messages."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Collector:
    """A subscriber that records every message; persistent session (survives broker restarts)."""

    def __init__(self, url_port: int, topics: list[str], *, client_id: str | None = None) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._topics = topics
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"collector-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        # clean_start=False from the first connection: mosquitto 2.0 saves at shutdown only the sessions of
        # clients that connected without clean start.
        self.client.connect("127.0.0.1", url_port, keepalive=10, clean_start=False, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(5):
            raise RuntimeError("collector could not subscribe")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not flags.session_present:
            client.subscribe([(t, 1) for t in self._topics])
        else:
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
