"""What `edgeway up` is running and where: one record, written to `<state>/stack.json` when the stack
is ready, printed as the ready table, and read back by `edgeway status`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackInfo:
    state_dir: str
    thing: str
    http_port: int
    mqtt_port: int
    ws_port: int
    cloud_http_port: int
    pid: int
    console_token: str = ""
    device_port: int = 8883
    discovery_port: int = 8443
    cores: int = 1

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.cloud_http_port}/healthz"

    def rows(self) -> list[tuple[str, str]]:
        state = Path(self.state_dir)
        return [
            ("web app (chat, dashboard)", self.web),
            ("operator console", f"{self.web}console.html#token={self.console_token}"),
            ("MQTT over TCP", f"mqtt://127.0.0.1:{self.mqtt_port}"),
            ("MQTT over WebSocket", f"ws://127.0.0.1:{self.ws_port}/mqtt"),
            ("session API", f'{self.web}api/session (POST {{"nick": ...}})'),
            ("health", self.health_url),
            ("a device token", f"edgeway cloud token THING --data-dir {state / 'cloud'}"),
            ("client devices (core's broker)", f"mqtts://127.0.0.1:{self.device_port}, certificates"),
            (
                "Greengrass discovery",
                f"https://127.0.0.1:{self.discovery_port}/greengrass/discover/thing/THING",
            ),
            ("a device certificate", f"edgeway cloud thing create THING --core {self.thing} --out DIR"),
            ("core", f"thing {self.thing}, edgeway core list --root {state / 'core'}"),
            (
                "fleet",
                f"{self.cores} core(s) in thinggroup/edgeway-fleet: edgeway deploy"
                " --target thinggroup/edgeway-fleet"
                f" --endpoint-url http://127.0.0.1:{self.cloud_http_port} --component NAME=VERSION",
            ),
            ("state", str(state)),
            ("logs", str(state / "core" / "logs")),
        ]

    def save(self) -> None:
        path = Path(self.state_dir) / "stack.json"
        temporary = path.with_suffix(".tmp")
        temporary.touch(mode=0o600)  # it holds the console's token
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(path)

    @classmethod
    def load(cls, state_dir: Path) -> StackInfo | None:
        try:
            return cls(**json.loads((state_dir / "stack.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None
