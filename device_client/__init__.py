"""The device side of edgeway: what runs on a field device that talks MQTT to a Greengrass core's local
broker or to IoT Core (or the local stand-in).

A `DeviceClient` sends through a swappable `Transport` (paho for real, an in-process fake in tests),
keeps every QoS 1 reading in a durable SQLite `Outbox` until its PUBACK, reconnects with jittered
exponential backoff, and restores its subscriptions. `discovery` finds a core the way the Greengrass
discovery API says; `shadow` and `jobs` speak IoT Core's device shadow and jobs MQTT APIs; `agent` is a
whole device; `simulator` is many of them. This package imports nothing of the rest of the project.
"""
