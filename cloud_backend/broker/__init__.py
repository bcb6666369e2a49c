"""The embedded broker: amqtt with token authentication, IoT policy enforcement, lifecycle events and
the device shadow MQTT API."""
