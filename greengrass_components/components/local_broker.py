"""The local broker component: an MQTT broker on the core for client devices (what Greengrass's
Moquette component does), with client authentication (`broker_auth`).

    python3 -m greengrass_components.components.local_broker

Configuration: `Host` (loopback by default), `Port`, `Tls` (on by default: the broker's certificate is
issued by the core's own CA, kept in the component's work folder as `ca/ca.pem`, which discovery hands
to devices as the group CA; `Hostnames` go into it), `Clients` (client id -> stored password hash, made
with `broker_auth.hash_password`), and `ClientDeviceAuth` (`trustedCa`: the PEM file of the CA that
signs device certificates; `deviceGroups` in client device auth's format). With a trusted CA, a device
connects with its certificate; a certificate from another CA fails the TLS handshake, and the broker
logs who and why (the handshake is done here, not inside asyncio, so the reason is not lost). A device
that goes silent (power lost, a half-open connection) is disconnected after 1.5 times its keep-alive,
a connection that sends no CONNECT within `CONNECT_SECONDS` is closed, and so is one that sends a
malformed packet (`edgeway_common.mqtt_reader`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import ListenerType
from amqtt.errors import AMQTTError, MQTTError, NoDataError

from edgeway_common.certificates import CertificateAuthority
from edgeway_common.mqtt_keep_alive import SWEEP_SECONDS, ReadClock, silent_sessions
from edgeway_common.mqtt_reader import PacketReader

from .component_main import ComponentConfigError, run_component
from .device_groups import DeviceGroupsError, parse
from .ipc_client import CoreLink
from .settings import number, section, text

HANDSHAKE_SECONDS = 10.0
CONNECT_SECONDS = 10.0  # a connection that sends no whole CONNECT in this time is closed


class TlsBroker(Broker):  # type: ignore[misc]
    """amqtt's broker with the TLS handshake done by us, after accepting the connection, and the
    client's keep-alive kept as Moquette keeps it: a client that sends nothing for 1.5 times its
    keep-alive is disconnected (MQTT-3.1.2-24; amqtt closes nobody for it), from one sweep a second."""

    def __init__(self, config: dict[str, Any], tls: ssl.SSLContext | None, log: logging.Logger) -> None:
        super().__init__(config)
        self._tls, self._log = tls, log
        self._sweep: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        await super().start()
        self._sweep = asyncio.get_running_loop().create_task(self._sweep_keep_alive())

    async def shutdown(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        await super().shutdown()

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> Any:
        """amqtt's, with a time limit for the CONNECT and the connection closed when it fails (amqtt
        waits for a CONNECT for ever and leaves a failed connection's socket open), and the
        connection's packets read by `PacketReader`: a malformed one closes the connection, as
        MQTT 3.1.1 asks of a server, where amqtt drops it and reads on."""
        try:
            _, session = await asyncio.wait_for(
                super()._initialize_client_session(reader, writer, remote_address, remote_port),
                CONNECT_SECONDS,
            )
        except (AMQTTError, MQTTError, NoDataError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await writer.close()
            raise AMQTTError(f"no valid CONNECT within {CONNECT_SECONDS:g} s: {exc}") from exc
        handler = PacketReader(self.plugins_manager)  # what amqtt made, nothing attached to it yet
        handler.reader_log = self._log
        return handler, session

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        await self._client_connected(
            listener_name, ReadClock(StreamReaderAdapter(reader)), StreamWriterAdapter(writer)
        )

    async def _sweep_keep_alive(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = time.monotonic()
            for client_id, session, handler in silent_sessions(self._sessions, now):
                if not session.transitions.is_connected():
                    continue
                self._log.info(
                    "client disconnected: nothing received for 1.5 times its keep-alive",
                    extra={"client_id": client_id, "keep_alive": session.keep_alive},
                )
                handler.reader.last_read = now  # once: the close below takes a moment
                task = asyncio.get_running_loop().create_task(handler.handle_connection_closed())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def _create_server_instance(
        self, listener_name: str, listener_type: Any, address: str | None, port: int, ssl_context: Any
    ) -> Any:
        if self._tls is None or listener_type != ListenerType.TCP:
            return await super()._create_server_instance(
                listener_name, listener_type, address, port, ssl_context
            )
        return await asyncio.start_server(
            partial(self._handshake, listener_name), address, port, reuse_address=True
        )

    async def _handshake(
        self, listener_name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        try:
            await writer.start_tls(self._tls, ssl_handshake_timeout=HANDSHAKE_SECONDS)  # type: ignore[arg-type]
        except ssl.SSLCertVerificationError as exc:
            self._refused(peer, f"its certificate is not signed by the trusted CA ({exc.verify_message})")
            return await _close(writer)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            self._refused(peer, f"the TLS handshake failed ({getattr(exc, 'reason', None) or exc})")
            return await _close(writer)
        await self.stream_connected(reader, writer, listener_name)

    def _refused(self, peer: Any, reason: str) -> None:
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._log.warning("client refused", extra={"address": where, "reason": reason})


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


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
        tls = config.get("Tls", True)
        if not isinstance(tls, bool):
            raise ComponentConfigError("configuration.Tls must be true or false")
        auth = section(config, "ClientDeviceAuth")
        trusted = str(auth.get("trustedCa") or "")
        try:
            groups = parse(auth.get("deviceGroups") or {"formatVersion": "2021-03-05"})
        except DeviceGroupsError as exc:
            raise ComponentConfigError(f"configuration.ClientDeviceAuth.{exc}") from exc
        if trusted and not tls:
            raise ComponentConfigError("configuration.ClientDeviceAuth.trustedCa needs Tls: true")
        if trusted and not Path(trusted).is_file():
            raise ComponentConfigError(f"configuration.ClientDeviceAuth.trustedCa: no file {trusted}")
        hostnames = config.get("Hostnames") or ["localhost", "127.0.0.1"]
        if not isinstance(hostnames, list) or not all(isinstance(h, str) for h in hostnames):
            raise ComponentConfigError("configuration.Hostnames must be a list of host names or addresses")
        self.tls_context = self._tls(hostnames, trusted) if tls else None
        plugins: dict[str, Any] = {
            "greengrass_components.components.broker_auth.CertificateAuthPlugin": {
                "device_groups": groups,
                "clients": clients,
            },
            "greengrass_components.components.broker_auth.DevicePolicyTopicPlugin": {"device_groups": groups},
        }
        self.config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": plugins,
        }

    def _tls(self, hostnames: list[str], trusted: str) -> ssl.SSLContext:
        """The broker's certificate from the core's CA (made once, in the work folder), and the trusted
        device CA when client device auth is on."""
        authority = CertificateAuthority(Path.cwd() / "ca", "edgeway core CA")
        server = authority.issue("local-broker", server=True, hosts=hostnames, folder=Path.cwd() / "ca")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(server.cert), str(server.key))
        if trusted:
            context.load_verify_locations(cafile=trusted)
            context.verify_mode = ssl.CERT_OPTIONAL  # no certificate: the password decides
        else:
            context.verify_mode = ssl.CERT_NONE
        return context

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self._serve(stop))

    async def _serve(self, stop: threading.Event) -> None:
        broker = TlsBroker(self.config, self.tls_context, self.log)
        try:
            await broker.start()
        except Exception as exc:
            raise ComponentConfigError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.log.info(
            "component-ready",
            extra={"listening": f"{self.host}:{self.port}", "tls": self.tls_context is not None},
        )
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
