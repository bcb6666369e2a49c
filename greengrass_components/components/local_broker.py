"""The local broker component: an MQTT broker on the core for client devices (what Greengrass's
Moquette component does), with client authentication (`broker_auth`).

    python3 -m greengrass_components.components.local_broker

Configuration: `Host` (loopback by default), `Port`, and `Clients`, a map of client id to its stored
password hash, made with `broker_auth.hash_password` (never the password itself).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

from amqtt.broker import Broker

from .component_main import ComponentConfigError, run_component
from .ipc_client import CoreLink
from .settings import number, section, text


class LocalBroker:
    def __init__(self, link: CoreLink, config: dict[str, Any], log: logging.Logger) -> None:
        self.log = log
        self.host = text(config, "Host", "127.0.0.1")
        self.port = int(number(config, "Port", 8883, minimum=1))
        clients = section(config, "Clients")
        for client_id, stored in clients.items():
            if not isinstance(stored, str) or not stored.startswith("scrypt$"):
                raise ComponentConfigError(
                    f"configuration.Clients.{client_id} must be a scrypt$salt$hash string"
                )
        self.config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "greengrass_components.components.broker_auth.ClientPasswordPlugin": {"clients": clients}
            },
        }

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self._serve(stop))

    async def _serve(self, stop: threading.Event) -> None:
        broker = Broker(self.config)
        try:
            await broker.start()
        except Exception as exc:
            raise ComponentConfigError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.log.info("component-ready", extra={"listening": f"{self.host}:{self.port}"})
        try:
            while not stop.is_set():
                await asyncio.sleep(0.2)
        finally:
            await broker.shutdown()

    def close(self) -> None:
        pass


def main() -> int:
    return run_component("local_broker", LocalBroker)


if __name__ == "__main__":
    sys.exit(main())
