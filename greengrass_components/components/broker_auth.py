"""Client authentication for the core's local broker.

By password: each client has a username (its client id) and a password, stored only as a salted scrypt
hash (`scrypt$<salt hex>$<hash hex>`), so the component's configuration never holds a password. A client
must connect with its own id as username.

By certificate, as Greengrass's client device auth does: the device's certificate names the thing,
device groups map things to policies (`device_groups`), and the policies decide connect, publish and
subscribe.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from edgeway_common.certificates import common_name

from .device_groups import DeviceGroups

log = logging.getLogger("edgeway.local_broker")
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, expected = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=_N, r=_R, p=_P)
    return hmac.compare_digest(digest.hex(), expected)


class ClientPasswordPlugin(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        clients: Any = None  # {client id: stored hash}

    async def authenticate(self, *, session: Any) -> bool | None:
        return password_accepted(self.config.clients or {}, session)


def password_accepted(clients: dict[str, str], session: Any) -> bool:
    client_id = session.client_id or ""
    stored = clients.get(client_id)
    password = session.password or ""
    password = password.decode() if isinstance(password, bytes) else str(password)
    if stored is None or session.username != client_id or not check_password(password, stored):
        log.warning("client refused", extra={"client_id": client_id, "username": session.username})
        return False
    return True


def session_thing(session: Any) -> str | None:
    """The thing a session's client certificate names (its subject's common name), or None without one."""
    ssl_object = getattr(session, "ssl_object", None)
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return common_name(der) if der else None


class CertificateAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Client device auth: a client with a certificate (its chain already checked in the TLS handshake
    against the trusted CA) is the thing its certificate names, must connect with that thing name as
    its client id, must be in a device group, and its group's policy must allow `mqtt:connect` on
    `mqtt:clientId:<id>`. A client without a certificate is left to the password plugin."""

    @dataclass
    class Config:
        device_groups: Any = None  # the deviceGroups object of the component's configuration
        clients: Any = None  # {client id: stored hash}, for clients without a certificate

    async def authenticate(self, *, session: Any) -> bool | None:
        thing = session_thing(session)
        client_id = session.client_id or ""
        if thing is None:
            return password_accepted(self.config.clients or {}, session)
        groups: DeviceGroups = self.config.device_groups
        reason = None
        if client_id != thing:
            reason = f"the client id {client_id!r} is not the thing its certificate names ({thing!r})"
        elif not groups.groups_of(thing):
            reason = f"thing {thing!r} is in no device group"
        elif not groups.allows(thing, "mqtt:connect", f"mqtt:clientId:{client_id}"):
            reason = f"no policy of its device groups allows mqtt:connect on mqtt:clientId:{client_id}"
        if reason is not None:
            log.warning("client refused", extra={"client_id": client_id, "thing": thing, "reason": reason})
            return False
        log.info("client device connected", extra={"thing": thing, "groups": groups.groups_of(thing)})
        return True


class DevicePolicyTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """What a certificate-authenticated device may publish and subscribe to, by its groups' policies;
    clients authenticated by password (the bridge, among them) are not limited here."""

    @dataclass
    class Config:
        device_groups: Any = None

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool | None:
        thing = session_thing(session) if session is not None else None
        if thing is None or topic is None or action is None:
            return True
        groups: DeviceGroups = self.config.device_groups
        name = getattr(action, "value", str(action))
        if name == "publish":
            allowed = groups.allows(thing, "mqtt:publish", f"mqtt:topic:{topic}")
        elif name == "subscribe":
            allowed = groups.allows(thing, "mqtt:subscribe", f"mqtt:topicfilter:{topic}")
        else:
            return True  # receive: what a device subscribed to, it may receive
        if not allowed:
            log.warning(
                "device request refused", extra={"thing": thing, "action": name, "topic": topic[:256]}
            )
        return allowed
