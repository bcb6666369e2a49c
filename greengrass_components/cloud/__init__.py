"""The core's side of the cloud: shadows (and, next, the IoT Core MQTT session and its spool)."""
