"""A device that is killed with SIGKILL loses nothing: 10,000 readings stored while its broker is down,
the process killed, started again with the broker up, killed again half way through sending, started
once more: every reading reaches a subscriber, and after dropping seen ids (as the backend does) each
topic's readings are exactly the ones stored, in order. Real processes, a real broker (Mosquitto), the
real SQLite outbox."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.device_process import TOPICS
from tests.fakes.broker import MosquittoBroker, free_port
from tests.functional.test_ipc_iot_core import require_mosquitto
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
COUNT = 10_000


class Downstream:
    def __init__(self, port: int) -> None:
        self.arrivals: list[tuple[str, str, int]] = []  # (topic, id, n)
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="downstream", clean_session=False)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("dt/#", qos=1)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, userdata, message) -> None:
        document = json.loads(message.payload)
        with self._lock:
            self.arrivals.append((message.topic, document["id"], document["n"]))

    def unique(self) -> int:
        with self._lock:
            return len({record_id for _, record_id, _ in self.arrivals})

    def kept(self, topic: str) -> list[int]:
        """Per topic, what a consumer that drops seen ids keeps, in arrival order."""
        seen, kept = set(), []
        with self._lock:
            for t, record_id, n in self.arrivals:
                if t == topic and record_id not in seen:
                    seen.add(record_id)
                    kept.append(n)
        return kept

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_device(folder: Path, port: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.device_process", str(folder), str(port), str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def stored(folder: Path) -> int:
    with sqlite3.connect(folder / "outbox.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.mark.slow
def test_ten_thousand_readings_survive_two_sigkills_and_arrive_once_each_in_order(tmp_path):
    require_mosquitto()
    port = free_port()
    device = start_device(tmp_path, port, COUNT)  # nothing listens on the port yet
    assert device.stdout is not None and device.stdout.readline().strip() == "queued"
    assert stored(tmp_path) == COUNT
    kill(device)
    assert stored(tmp_path) == COUNT  # every reading was committed before it was ever sent

    broker = MosquittoBroker(tmp_path, port=port)
    downstream = Downstream(port)
    try:
        assert downstream.ready.wait(20)
        device = start_device(tmp_path, port, 0)
        wait_for(lambda: downstream.unique() >= COUNT // 3, 120, "a third of the readings to arrive")
        kill(device)  # mid-drain: some readings sent and not yet acknowledged, or acknowledged not deleted
        left = stored(tmp_path)
        assert 0 < left < COUNT
        device = start_device(tmp_path, port, 0)
        wait_for(lambda: downstream.unique() >= COUNT, 180, "every reading to arrive")
        wait_for(lambda: stored(tmp_path) == 0, 60, "the outbox to empty")
        kill(device)
        for index, topic in enumerate(TOPICS):
            assert downstream.kept(topic) == list(range(index, COUNT, 2))  # none lost, none twice, in order
        assert downstream.unique() == COUNT
    finally:
        if device.poll() is None:
            kill(device)
        downstream.close()
        broker.stop()
