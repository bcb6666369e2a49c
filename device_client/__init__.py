"""Device-side MQTT: transport, offline queue, discovery, shadow, fleet simulator.

Imports nothing of the project.
"""
