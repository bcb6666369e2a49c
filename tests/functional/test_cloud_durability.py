"""An acknowledged chat message is a stored chat message: 2,000 messages at QoS 1 from five users, the
stand-in killed with SIGKILL part way; every message whose PUBACK arrived is in the message table
(a real SQLite file) once the stand-in is back."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.cloud_process import CloudProcess
from tests.waiting import wait_for

USERS, PER_USER = 5, 400
pytestmark = pytest.mark.slow


class Sender:
    """A user who publishes chat messages at QoS 1 and remembers which were acknowledged."""

    def __init__(self, cloud: CloudProcess, nick: str) -> None:
        session = cloud.session(nick)
        self.client_id, self.nick = session["clientId"], nick
        self.acked: set[str] = set()
        self._ids: dict[int, str] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        self.paho.username_pw_set("edgeway", session["token"])
        self.paho.max_inflight_messages_set(20)
        self.paho.max_queued_messages_set(0)
        self.paho.on_connect = lambda *a: self.connected.set()
        self.paho.on_publish = self._acked
        self.paho.connect("127.0.0.1", cloud.mqtt_port)
        self.paho.loop_start()
        assert self.connected.wait(15)

    def _acked(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        # paho's thread, holding paho's own locks: take only ours, briefly (never the other way round)
        with self._lock:
            message_id = self._ids.pop(mid, None)
            if message_id is None:
                self._early.add(mid)  # acknowledged before send() recorded it
            else:
                self.acked.add(message_id)

    def send(self, n: int) -> None:
        message_id = f"{self.nick}-{n:04d}"
        body = {
            "type": "message",
            "room": "lobby",
            "text": f"message {n}",
            "id": message_id,
            "user": self.nick,
        }
        info = self.paho.publish("chat/out", json.dumps(body).encode(), qos=1)  # not under our lock
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked.add(message_id)
            else:
                self._ids[info.mid] = message_id

    def stop(self) -> None:
        self.paho.loop_stop()
        self.paho.disconnect()


def stored_ids(cloud: CloudProcess) -> set[str]:
    with sqlite3.connect(cloud.data_dir / "backend.sqlite3") as db:
        return {json.loads(item)["id"] for (item,) in db.execute("SELECT item FROM messages")}


def test_every_acknowledged_message_is_stored_across_a_sigkill(tmp_path):
    cloud = CloudProcess(tmp_path / "cloud").start()
    senders = [Sender(cloud, f"user{n}") for n in range(USERS)]
    try:
        killed = False
        deadline = time.monotonic() + 120
        for n in range(PER_USER):
            for sender in senders:
                sender.send(n)
            total = sum(len(s.acked) for s in senders)
            if not killed and total >= USERS * PER_USER // 3:
                assert cloud.process is not None
                cloud.process.send_signal(signal.SIGKILL)  # part way: some in flight, some acknowledged
                cloud.process.wait(10)
                killed = True
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        if not killed:
            wait_for(lambda: sum(len(s.acked) for s in senders) >= USERS * PER_USER // 3, 60, "a third acked")
            assert cloud.process is not None
            cloud.process.send_signal(signal.SIGKILL)
            cloud.process.wait(10)
        acked = set().union(*(s.acked for s in senders))
        assert acked, "nothing was acknowledged before the kill"
    finally:
        for sender in senders:
            sender.stop()
    again = CloudProcess(cloud.data_dir, cloud.mqtt_port, cloud.ws_port, cloud.http_port).start()
    try:
        lost = acked - stored_ids(again)
        assert not lost, f"{len(lost)} acknowledged messages were not stored, e.g. {sorted(lost)[:5]}"
    finally:
        again.stop()
