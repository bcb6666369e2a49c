"""Greengrass v2 side of edgeway: the local core (runtime, ipc, cloud), components and publishing."""
