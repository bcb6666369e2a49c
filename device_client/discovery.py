"""Finding a Greengrass core: the discovery API (`GET /greengrass/discover/thing/{thing}` on 8443,
mutual TLS with the device's certificate) through the official SDK's `DiscoveryClient`, and a
transport that tries what it found.

`CoreFinder` asks discovery, writes each group's CA to the device's state folder (the core's broker
certificate is issued by it), and lists every core endpoint in the order the response gives them, the
last core that worked first. `FailoverTransport` tries those endpoints in turn on every connect,
remembers the one that worked, and falls back to IoT Core (when given one) after them. When none of
them answers it asks discovery again (when given a way to) and tries what that finds: a device that
asked before its core had registered its CA (an empty list), or whose core moved, gets there without
a restart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from awscrt import io as crt_io
from awsiot.greengrass_discovery import DiscoverResponse, DiscoveryClient

from .errors import ConnectError, DiscoveryError
from .paho_transport import PahoTransport
from .transport import Endpoint, TlsFiles, Transport, TransportEvents

log = logging.getLogger("edgeway.device.discovery")
DISCOVERY_TIMEOUT = 15.0


@dataclass(frozen=True)
class DiscoveryEndpoint:
    host: str  # greengrass-ats.iot.<region>.amazonaws.com, or the stand-in's host
    port: int = 8443
    ca: Path | None = None  # what signs the discovery server's certificate (Amazon's root CA in AWS)


def discover(thing: str, where: DiscoveryEndpoint, cert: Path, key: Path) -> DiscoverResponse:
    """One discovery call through awsiotsdk's client; DiscoveryError naming the status or the failure."""
    options = crt_io.TlsContextOptions.create_client_with_mtls_from_path(str(cert), str(key))
    if where.ca is not None:
        options.override_default_trust_store_from_path(None, str(where.ca))
    resolver = crt_io.DefaultHostResolver(crt_io.EventLoopGroup(1))
    bootstrap = crt_io.ClientBootstrap(crt_io.EventLoopGroup(1), resolver)
    client = DiscoveryClient(
        bootstrap, crt_io.SocketOptions(), crt_io.ClientTlsContext(options), "us-east-1", where.host
    )
    client.port = where.port  # the SDK picks 443 when ALPN is available; the stand-in serves 8443
    try:
        return client.discover(thing).result(DISCOVERY_TIMEOUT)
    except Exception as exc:
        status = getattr(exc, "http_response_code", None)
        detail = f"HTTP {status}" if status else f"{type(exc).__name__}: {exc}"
        raise DiscoveryError(f"discovery for {thing} at {where.host}:{where.port} failed: {detail}") from exc


@dataclass(frozen=True)
class Candidate:
    endpoint: Endpoint
    core: str  # the core's thing ARN, or "iot-core" for the fallback


class CoreFinder:
    def __init__(self, thing: str, state_dir: Path, cert: Path, key: Path) -> None:
        self.thing, self.state_dir, self.cert, self.key = thing, state_dir, cert, key
        self.remembered = state_dir / "last-good-core.json"

    def candidates(self, response: DiscoverResponse) -> list[Candidate]:
        """Every endpoint of every core, in the response's order, with the group CA written out."""
        found: list[Candidate] = []
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for index, group in enumerate(response.gg_groups or []):
            ca_file = self.state_dir / f"group-ca-{index}.pem"
            ca_file.write_text("\n".join(group.certificate_authorities or []))
            for core in group.cores or []:
                for info in core.connectivity or []:
                    endpoint = Endpoint(
                        str(info.host_address),
                        int(info.port),
                        self.thing,
                        TlsFiles(ca_file, self.cert, self.key),
                    )
                    found.append(Candidate(endpoint, str(core.thing_arn)))
        last = self.last_good()
        if last is not None:
            found.sort(key=lambda c: (c.endpoint.host, c.endpoint.port) != last)
        return found

    def last_good(self) -> tuple[str, int] | None:
        try:
            document = json.loads(self.remembered.read_text())
            return str(document["host"]), int(document["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, candidate: Candidate) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        document = {"host": candidate.endpoint.host, "port": candidate.endpoint.port, "core": candidate.core}
        self.remembered.write_text(json.dumps(document))


class FailoverTransport:
    """A transport over several endpoints: each connect tries them in order and keeps the first that
    works; `on_good` hears which one it was."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        make: Callable[[Endpoint], Transport] = PahoTransport,
        on_good: Callable[[Candidate], None] | None = None,
        rediscover: Callable[[], Sequence[Candidate]] | None = None,
    ) -> None:
        """`rediscover`: discovery asked again, when every candidate has failed a connect."""
        if not candidates:
            raise DiscoveryError(
                "no endpoint to connect to: discovery named no core and there is no fallback"
            )
        self.candidates = list(candidates)
        self._make, self._on_good, self._rediscover = make, on_good, rediscover
        self._current: Transport | None = None
        self.connected_to: Candidate | None = None

    def connect(self, events: TransportEvents) -> None:
        failures = self._try_each(events)
        if not failures:
            return
        if self._rediscover is not None:
            try:
                found = list(self._rediscover())
            except DiscoveryError as exc:
                failures.append(str(exc))
            else:
                log.info("discovered again", extra={"endpoints": len(found)})
                if found:
                    self.candidates = found
                    failures = self._try_each(events)
                    if not failures:
                        return
        raise ConnectError("no endpoint answered: " + "; ".join(failures))

    def _try_each(self, events: TransportEvents) -> list[str]:
        """Connects to the first candidate that answers; why each before it failed ([] if one did)."""
        failures = []
        for candidate in self.candidates:
            transport = self._make(candidate.endpoint)
            try:
                transport.connect(events)
            except ConnectError as exc:
                failures.append(str(exc))
                log.info("core endpoint failed", extra={"core": candidate.core, "error": str(exc)})
                continue
            self._current, self.connected_to = transport, candidate
            if self._on_good is not None:
                self._on_good(candidate)
            return []
        return failures  # never empty here: there is always a candidate

    def disconnect(self) -> None:
        if self._current is not None:
            self._current.disconnect()
            self._current = None

    def publish(self, topic: str, payload: bytes, qos: int) -> int:
        if self._current is None:
            raise ConnectError("not connected")
        return self._current.publish(topic, payload, qos)

    def subscribe(self, topic_filter: str, qos: int) -> None:
        if self._current is None:
            raise ConnectError("not connected")
        self._current.subscribe(topic_filter, qos)


def with_fallback(found: list[Candidate], iot_core: Endpoint | None) -> list[Candidate]:
    return found + ([Candidate(replace(iot_core), "iot-core")] if iot_core is not None else [])
