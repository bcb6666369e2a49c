"""Greengrass IPC on the local core: event-stream codec, RPC server, one module per service."""
