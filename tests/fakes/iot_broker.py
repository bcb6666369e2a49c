"""The stand-in's broker (the real `IotBroker` and `Gate`) in this process on a loop thread, with an
authorizer whose answers a test chooses, a bus that records what the backend was told, and rules whose
durable writes a test can hold back. For broker behaviour that the whole stand-in cannot show quickly
(lifecycle events, an authorization that lapses in a second)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from cloud_backend.broker.gate import Gate
from cloud_backend.broker.server import IotBroker, LoopBus, broker_config
from cloud_backend.broker.shadow_service import ShadowService
from edgeway_common.shadow_store import ShadowStore
from tests.fakes.broker import free_port
from tests.fakes.edge import LoopThread

EVERYTHING = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": "arn:aws:iot:*:*:client/${iot:ClientId}",
            },
            {
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": "arn:aws:iot:*:*:topic/*",
            },
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "arn:aws:iot:*:*:topicfilter/*"},
            {"Effect": "Allow", "Action": "iot:RetainPublish", "Resource": "arn:aws:iot:*:*:topic/secret/*"},
        ],
    }
)


class Authorizer:
    """Passwords are `good...` (allowed) or anything else (refused); a test sets the lifetimes, can
    start refusing a password that was good (the token has expired), and can give a password another
    policy than EVERYTHING (`policies`), which the next refresh hands over."""

    def __init__(self) -> None:
        self.disconnect_after: float | None = None
        self.refresh_after: float | None = None
        self.revoked: set[str] = set()
        self.policies: dict[str, str] = {}  # password -> policy document
        self.asked: list[str] = []  # the client id of each call

    @property
    def calls(self) -> int:
        return len(self.asked)

    async def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        import base64

        mqtt = event["protocolData"]["mqtt"]
        self.asked.append(mqtt["clientId"])
        password = base64.b64decode(mqtt["password"]).decode()
        if not password.startswith("good") or password in self.revoked:
            return {"isAuthenticated": False}
        answer: dict[str, Any] = {
            "isAuthenticated": True,
            "principalId": "test" + mqtt["clientId"].replace("-", ""),
            "policyDocuments": [self.policies.get(password, EVERYTHING)],
        }
        if self.disconnect_after is not None:
            answer["disconnectAfterInSeconds"] = self.disconnect_after
        if self.refresh_after is not None:
            answer["refreshAfterInSeconds"] = self.refresh_after
        return answer


class RecordingBus(LoopBus):
    def __init__(self, loop: Any) -> None:
        super().__init__(loop)
        self.published: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, client_id: str = "", qos: int = 0) -> None:
        with self._lock:
            self.published.append((topic, payload))
        super().publish(topic, payload, client_id, qos)

    def events(self, kind: str, client_id: str) -> list[dict[str, Any]]:
        topic = f"$aws/events/presence/{kind}/{client_id}"
        with self._lock:
            return [json.loads(p) for t, p in self.published if t == topic]


class Rules:
    """Records what the rules saw; while `held`, each message's durable write waits for `release`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, str]] = []
        self.held = False
        self.waiting: list[Future[Any]] = []
        self._lock = threading.Lock()

    def __call__(self, topic: str, payload: bytes, client_id: str = "", durable: Any = None) -> int:
        with self._lock:
            self.seen.append((topic, payload, client_id))
            if durable is not None:
                write: Future[Any] = Future()
                if self.held:
                    self.waiting.append(write)
                else:
                    write.set_result(None)
                durable.append(write)
        return 1

    def release(self) -> None:
        with self._lock:
            for write in self.waiting:
                write.set_result(None)
            self.waiting.clear()


class InProcessBroker:
    def __init__(self, folder: Path) -> None:
        self.loop = LoopThread()
        self.port = free_port()
        self.authorizer = Authorizer()
        self.rules = Rules()
        self.store = ShadowStore(folder / "shadows.sqlite3")

        async def build() -> None:
            import asyncio

            loop = asyncio.get_running_loop()
            self.bus = RecordingBus(loop)
            self.gate = Gate(self.authorizer, self.bus, self.rules)
            shadows = ShadowService(
                self.store, lambda t, d: self.bus.publish(t, json.dumps(d).encode()), self.gate.now_ms
            )
            self.broker = IotBroker(broker_config(self.port, 0), self.gate, shadows)
            self.bus.broker = self.broker
            await self.broker.start()

        self.loop.run(build())

    def close(self) -> None:
        self.loop.run(self.broker.shutdown())
        self.loop.close()
        self.store.close()
