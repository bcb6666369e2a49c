"""The operator console in Chromium against a real `edgeway up`: the core's components, a restart, and
a denied publish with the policy decision that denied it; and the console API refuses a request
without the token."""

from __future__ import annotations

import signal

import pytest
import requests

from edgeway.stack_info import StackInfo
from tests.cloud_process import CloudProcess, user
from tests.e2e.test_edgeway_up import started_until_ready
from tests.e2e.test_web_chat import browser  # noqa: F401 - the fixture
from tests.e2e.web_stack import Page
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path):
    up = started_until_ready(tmp_path)
    info = StackInfo.load(tmp_path / "state")
    assert info is not None
    yield info
    up.send_signal(signal.SIGINT)
    assert up.wait(60) == 0
    if up.stdout is not None:
        up.stdout.close()


def test_the_console_shows_components_restarts_one_and_shows_a_denied_publish(stack, browser, tmp_path):  # noqa: F811
    assert requests.get(f"{stack.web}api/console/components", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.get(f"{stack.web}api/console/components", headers=wrong, timeout=10).status_code == 401

    page = Page(browser, f"{stack.web}console.html#token={stack.console_token}")
    row = "#components tr[data-component='com.edgeway.LambdaHost']"
    wait_for(lambda: page.page.locator(row).count() == 1, 20, "the components")
    assert "RUNNING" in page.page.inner_text(f"{row} .state")
    names = set(page.texts("#components tbody th"))
    assert {"com.edgeway.SensorHub", "com.edgeway.Uplink", "com.edgeway.ImageAnalyzer"} <= {
        n.split("\n")[0] for n in names
    }
    headers = {"Authorization": f"Bearer {stack.console_token}"}
    before = requests.get(f"{stack.web}api/console/components", headers=headers, timeout=10).json()
    pids = next(c["pids"] for c in before["components"] if c["name"] == "com.edgeway.LambdaHost")
    page.page.click(f"{row} button.restart")

    def restarted() -> bool:
        now = requests.get(f"{stack.web}api/console/components", headers=headers, timeout=10).json()
        host = next(c for c in now["components"] if c["name"] == "com.edgeway.LambdaHost")
        return host["state"] == "RUNNING" and host["pids"] and host["pids"] != pids

    wait_for(restarted, 30, "the Lambda host to restart")
    wait_for(lambda: "RUNNING" in page.page.inner_text(f"{row} .state"), 10, "the page to show it")

    cloud = CloudProcess(tmp_path / "state" / "cloud", stack.mqtt_port, stack.ws_port, stack.cloud_http_port)
    ada = user(cloud, "ada")
    ada.send("chat/pub/lobby", {"text": "only the backend may"})
    denied = "#monitor li.denied[data-action='iot:Publish']"
    wait_for(lambda: page.page.locator(denied).count() >= 1, 15, "the denied publish")
    text = page.page.inner_text(denied)
    assert ada.client_id in text and "chat/pub/lobby" in text
    assert "denied by policy document 1 Statement[" in text  # the explicit Deny that decided
    assert page.page.locator("#monitor li.allowed[data-action='iot:Connect']").count() >= 1
    page.page.click(f"{row} button.show-log")
    wait_for(lambda: "com.edgeway.LambdaHost" in page.page.inner_text("#log-name"), 10, "its log")
    assert page.csp_violations() == [] and page.errors() == []
    page.page.screenshot(path=str(tmp_path / "console.png"))
    ada.close()
    page.close()
