"""The local (IPC pub/sub) topics the components agree on; each can be changed in a recipe's configuration."""

TELEMETRY = "edgeway/telemetry"
ALERTS = "edgeway/alerts"
VISION = "edgeway/vision"
THUMBNAILS = "edgeway/vision/thumbnails"
ERRORS = "edgeway/errors"
UPLINK_STATUS = "edgeway/uplink/status"
