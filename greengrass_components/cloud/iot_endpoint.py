"""Where the core's IoT Core connection goes: `mqtt://host:port` (a local broker) or `mqtts://host:8883`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse


@dataclass(frozen=True)
class IotEndpoint:
    host: str
    port: int
    tls: bool
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    # a custom authorizer's token, sent as the MQTT password (username: the client id); never printed
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(
        cls,
        url: str,
        cert: Path | None = None,
        key: Path | None = None,
        ca: Path | None = None,
        password: str | None = None,
    ) -> IotEndpoint:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError(f"--iot-endpoint {url!r}: use mqtt://HOST:PORT or mqtts://HOST:PORT")
        tls = parsed.scheme == "mqtts"
        if tls and not (cert and key and ca):
            raise ValueError("an mqtts:// endpoint (AWS IoT Core) needs --cert, --key and --ca")
        return cls(
            parsed.hostname, parsed.port or (8883 if tls else 1883), tls, cert, key, ca, password or None
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
