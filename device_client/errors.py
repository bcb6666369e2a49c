"""Errors of the device client.

DeviceClientError
 ├── DeviceConfigError (ValueError)  a setting that cannot work; the message names it
 ├── OutboxFullError                 a reading refused: the outbox is at its bound and the policy refuses
 ├── ConnectError                    a transport could not connect (carries the reason)
 ├── DiscoveryError                  discovery failed, or named no core this device could reach
 ├── ShadowRejectedError             the shadow service answered /rejected (carries code and message)
 └── RequestTimeoutError             no answer to a shadow or jobs request in time
"""

from __future__ import annotations


class DeviceClientError(Exception):
    """Base of the errors `device_client` raises on purpose."""


class DeviceConfigError(DeviceClientError, ValueError):
    """A setting that cannot work; the message names it and why."""


class OutboxFullError(DeviceClientError):
    """The outbox is at its bound and its policy refuses new readings."""


class ConnectError(DeviceClientError):
    """A transport could not connect; the message says why (refused, unreachable, TLS)."""


class DiscoveryError(DeviceClientError):
    """Discovery failed, or none of the cores it named could be reached."""


class ShadowRejectedError(DeviceClientError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"shadow request rejected ({code}): {message}")
        self.code, self.message = code, message


class RequestTimeoutError(DeviceClientError):
    """No answer to a request in time; the message names the request."""
