"""The dashboard in real Chromium: a device coming online, its telemetry drawn on a chart, an alert
when it crosses a threshold, and a tag cloud of what its camera saw, all from a real device client
publishing on `chat/stream` to the stand-in."""

from __future__ import annotations

import base64
import json
import time

import cv2
import paho.mqtt.client as mqtt
import pytest
from skimage import data

from tests.e2e.test_web_chat import browser, stack  # noqa: F401 - the fixtures
from tests.e2e.web_stack import Page
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


class Device:
    def __init__(self, cloud, thing: str) -> None:
        self.thing = thing
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=thing)
        self.paho.username_pw_set("edgeway", cloud.device_token(thing))
        self.paho.connect("127.0.0.1", cloud.mqtt_port)
        self.paho.loop_start()
        wait_for(self.paho.is_connected, 15, f"{thing} to connect")
        self.sent = 0

    def send(self, readings=(), vision=()) -> None:
        self.sent += 1
        body = {"thing": self.thing, "readings": list(readings), "vision": list(vision)}
        self.paho.publish("chat/stream", json.dumps(body), qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


def reading(value: float, n: int) -> dict:
    return {"sensor": "temperature", "value": value, "ts": int(time.time() * 1000), "id": f"r-{n}"}


def test_the_dashboard_shows_a_device_its_telemetry_alerts_and_vision(stack, browser, tmp_path):  # noqa: F811
    page = Page(browser, stack.url)
    page.sign_in("operator")
    page.page.click("#tab-dashboard")
    device = Device(stack.cloud, "gw-7")
    wait_for(lambda: "gw-7" in page.page.inner_text("#devices"), 15, "the device to show up")
    assert "online" in page.page.inner_text("#devices li[data-thing=gw-7]")
    chart = "#charts figure[data-series='gw-7/temperature']"
    device.send([reading(21.5, 1)])
    wait_for(lambda: page.page.locator(chart).count() == 1, 15, "a chart for gw-7 temperature")
    points = int(page.page.get_attribute(chart, "data-points") or 0)
    sent_at = time.monotonic()
    device.send([reading(22.0, 2)])
    wait_for(lambda: int(page.page.get_attribute(chart, "data-points") or 0) > points, 15, "the next point")
    latency = time.monotonic() - sent_at
    print(f"reading to chart: {latency:.3f} s")
    device.send([reading(35.0, 3)])  # over the template's temperature>30
    wait_for(lambda: "temperature" in page.page.inner_text("#alerts"), 15, "the alert")
    # The alert (a chat message, through the rules) and the window marked alerting (on dash/telemetry)
    # are two messages on two paths: either may reach the page first.
    wait_for(lambda: "(alert)" in page.page.inner_text(chart), 15, "the chart marked alerting")
    thumbnail = base64.b64encode(cv2.imencode(".jpg", data.astronaut()[:160, :160])[1].tobytes()).decode()
    seen = {"labels": {"person": 3, "bicycle": 1}, "faces": 2, "ts": int(time.time() * 1000), "id": "v-1"}
    device.send(vision=[seen | {"thumbnail": thumbnail}])
    wait_for(lambda: "person 3" in page.page.inner_text("#vision"), 15, "the tag cloud")
    image = "#vision section[data-thing=gw-7] img.thumbnail"
    natural = f"document.querySelector('{image}')?.naturalWidth"
    wait_for(lambda: page.page.evaluate(natural) == 160, 10, "the latest picture")
    assert page.page.get_attribute("#vision li.tag:has-text('person')", "data-weight") == "4"
    page.page.screenshot(path=str(tmp_path / "dashboard.png"))
    device.close()
    wait_for(
        lambda: "offline" in page.page.inner_text("#devices li[data-thing=gw-7]"), 15, "the device offline"
    )
    assert page.csp_violations() == []
    page.close()


def test_the_core_list_shows_each_cores_health_from_the_fleet_status_feed(stack, browser):  # noqa: F811
    page = Page(browser, stack.url)
    page.sign_in("operator")
    page.page.click("#tab-dashboard")
    core = Device(stack.cloud, "gateway-9")
    health = {
        "ggcVersion": "2.14.3", "overallDeviceStatus": "HEALTHY", "thing": "gateway-9",
        "components": [{"componentName": "com.example.A", "version": "1.0.0", "status": "RUNNING"},
                       {"componentName": "com.example.B", "version": "1.0.0", "status": "RUNNING"}],
    }  # fmt: skip
    core.paho.publish(
        "$aws/things/gateway-9/greengrassv2/health/json", json.dumps(health), qos=1
    ).wait_for_publish(10)
    item = "#devices li[data-thing=gateway-9]"
    wait_for(lambda: "HEALTHY, 2 components" in page.page.inner_text(item), 15, "the core's health")
    health["overallDeviceStatus"] = "UNHEALTHY"
    health["components"][1]["status"] = "BROKEN"
    core.paho.publish(
        "$aws/things/gateway-9/greengrassv2/health/json", json.dumps(health), qos=1
    ).wait_for_publish(10)
    wait_for(
        lambda: "UNHEALTHY, 2 components, broken: com.example.B" in page.page.inner_text(item), 15, "broken"
    )
    assert page.page.locator(f"{item} .health.unhealthy").count() == 1
    assert page.csp_violations() == []
    core.close()
    page.close()
