"""A real MQTT broker (amqtt) in its own process on a loopback port, and a TCP proxy to cut links to it."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import random
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import wait_for


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test is about to start. Drawn below the
    system's ephemeral range: a port from that range (what binding port 0 gives) can be taken by any
    outgoing connection on the machine, in any process, between this check and the server's own bind,
    and on a busy machine one was (`address already in use`)."""
    low, high = _PORT_RANGE
    for _ in range(200):
        port = _PORTS.randint(low, high)
        if port in _GIVEN:  # asked for by this process already: a server may be starting on it
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use (or in TIME_WAIT): another
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port between {low} and {high} in 200 draws")


def _below_ephemeral() -> tuple[int, int]:
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768  # Linux's default
    high = max(first - 1, 11000)
    return max(1024, high - 10000), high


_PORT_RANGE = _below_ephemeral()
_PORTS = random.Random()  # its own: tests that seed `random` (hypothesis does) do not repeat ports
_GIVEN: set[int] = set()  # a test run asks for a few hundred of the ten thousand


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


class AmqttBroker:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        config = workdir / "amqtt.yaml"
        config.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        self._log = (workdir / "amqtt.log").open("wb")
        amqtt = Path(sys.executable).with_name("amqtt")
        self.process = subprocess.Popen([str(amqtt), "-c", str(config)], stdout=self._log, stderr=self._log)
        wait_for(lambda: port_open(self.port) or self.process.poll() is not None, 20, "amqtt to listen")
        assert self.process.poll() is None, (workdir / "amqtt.log").read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class TcpProxy:
    """Forwards a loopback port to a target port; can drop every link and refuse new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.online = True
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.online:
            writer.close()
            return
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, upstream_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers.difference_update((writer, upstream_writer))

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()
        self._writers.clear()

    def go_offline(self) -> None:
        self.online = False
        self._loop.call_soon_threadsafe(self._drop_all)

    def go_online(self) -> None:
        self.online = True

    async def _shutdown(self) -> None:
        self._drop_all()
        self._server.close()
        await self._server.wait_closed()

    def close(self) -> None:
        self.online = False
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@dataclass(frozen=True)
class MosquittoTls:
    """A TLS listener that, like AWS IoT Core, requires a client certificate signed by `ca`."""

    ca: Path
    cert: Path
    key: Path


class MosquittoBroker:
    """Debian's mosquitto on a loopback port. Unlike amqtt, it lets clients publish to `$aws/...` topics,
    as AWS IoT Core does (the device shadow API lives there)."""

    def __init__(
        self,
        workdir: Path,
        tls: MosquittoTls | None = None,
        *,
        port: int | None = None,
        persistent: bool = False,
    ) -> None:
        """`persistent`: sessions and queued QoS 1 messages are kept on disk across a restart (start a new
        broker on the same `port` and `workdir`)."""
        import shutil

        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = port or free_port()
        self.log_path = workdir / "mosquitto.log"
        config = workdir / "mosquitto.conf"
        # No limit on what waits for a slow subscriber: Mosquitto's default (1,000) drops QoS 1
        # messages for a test's subscriber that falls behind on a loaded machine, and tests count them.
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 0"]
        if persistent:
            lines += [
                "persistence true",
                f"persistence_location {workdir}/",
                f"user {getpass.getuser()}",
            ]
        if tls is not None:
            lines += [
                # Started as root, mosquitto drops to user `mosquitto`, which cannot read the test's files.
                f"user {getpass.getuser()}",
                f"cafile {tls.ca}",
                f"certfile {tls.cert}",
                f"keyfile {tls.key}",
                "require_certificate true",
                "use_identity_as_username true",
            ]
        config.write_text("\n".join(lines) + "\n")
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen([binary, "-c", str(config)], stdout=self._log, stderr=self._log)
        wait_for(lambda: port_open(self.port) or self.process.poll() is not None, 20, "mosquitto to listen")
        assert self.process.poll() is None, (workdir / "mosquitto.log").read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._log.close()
