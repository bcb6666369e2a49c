"""Keep the core's local shadows and the cloud's in step while connected (ShadowManager's real-time sync).

Local to cloud: every local update or delete of one of the core's thing's
shadows is published to the cloud's shadow topic (`.../update` or `.../delete`)
as QoS 1, so it waits in the spool while offline and leaves in order. Cloud
to local: the core subscribes to `.../update/documents` for the classic and
named shadows and makes the local shadow's state the cloud's `current.state`.
Updates the core sent carry its `clientToken`, so their documents coming back
are recognised and not applied twice.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from edgeway_common.json_logs import log
from edgeway_common.shadow_document import Shadow, metadata_for
from edgeway_common.shadow_store import ShadowStore

from .mqtt_session import InboundMessage, IotCoreSession


def shadow_topic(thing: str, name: str) -> str:
    return f"$aws/things/{thing}/shadow" + (f"/name/{name}" if name else "")


class ShadowSync:
    def __init__(
        self,
        store: ShadowStore,
        session: IotCoreSession,
        thing: str,
        logger: logging.Logger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._session = session
        self._thing = thing
        self._log = logger
        self._clock = clock
        self.token = f"edgeway-sync-{uuid.uuid4().hex[:12]}"
        self._documents = re.compile(
            rf"^\$aws/things/{re.escape(thing)}/shadow(?:/name/(?P<name>[^/]+))?/update/documents$"
        )

    def start(self) -> None:
        base = f"$aws/things/{self._thing}/shadow"
        for topic in (f"{base}/update/documents", f"{base}/name/+/update/documents"):
            self._session.subscribe(topic, 1, self._on_document)  # for the session's life

    async def local_update(self, thing: str, name: str, document: dict[str, Any]) -> None:
        if thing != self._thing:
            return
        body = {"state": document["state"], "clientToken": self.token}
        await self._session.publish(
            f"{shadow_topic(thing, name)}/update", json.dumps(body).encode(), 1, False
        )

    async def local_delete(self, thing: str, name: str) -> None:
        if thing != self._thing:
            return
        body = json.dumps({"clientToken": self.token}).encode()
        await self._session.publish(f"{shadow_topic(thing, name)}/delete", body, 1, False)

    def _on_document(self, message: InboundMessage) -> None:
        match = self._documents.match(message.topic)
        if match is None:
            return
        name = match.group("name") or ""
        try:
            document = json.loads(message.payload)
            current = document["current"]
            state = current["state"]
        except (ValueError, KeyError, TypeError) as exc:
            log(self._log, logging.WARNING, "shadow-sync-bad-document", topic=message.topic, error=str(exc))
            return
        if document.get("clientToken") == self.token:
            return  # our own update, coming back
        local = self._store.get(self._thing, name)
        now = int(self._clock())
        state = {section: value for section, value in state.items() if isinstance(value, dict)}
        synced = Shadow(
            state=state, metadata=metadata_for(state, now), version=local.version + 1, exists=True
        )
        self._store.put(self._thing, name, synced)
        log(
            self._log,
            logging.INFO,
            "shadow-synced-from-cloud",
            thing=self._thing,
            shadow=name or "classic",
            cloud_version=current.get("version"),
            local_version=synced.version,
        )
