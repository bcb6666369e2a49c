"""A device process for tests: a `DeviceClient` over paho to 127.0.0.1:PORT with its outbox in FOLDER.

    python -m tests.device_process FOLDER PORT COUNT

Stores COUNT readings (alternating two topics, each carrying its sequence number) and says `queued`,
then keeps sending until it is killed; says `drained` each time its outbox empties."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from device_client.client import DeviceClient
from device_client.outbox import Outbox
from device_client.paho_transport import PahoTransport
from device_client.transport import Endpoint

TOPICS = ("dt/sensor-9/temperature", "dt/sensor-9/humidity")


def main() -> None:
    folder, port, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    client = DeviceClient(
        PahoTransport(Endpoint("127.0.0.1", port, "sensor-9", clean_session=True)),
        Outbox(folder / "outbox.sqlite3", "sensor-9"),
        window=20,
    )
    client.start()
    for n in range(count):
        client.publish(TOPICS[n % 2], {"n": n})
    print("queued", flush=True)
    while True:
        if client.wait_until_drained(3600):
            print("drained", flush=True)
            threading.Event().wait(0.5)


if __name__ == "__main__":
    main()
