"""The web app's stack for browser tests: the cloud stand-in (a real `edgeway cloud run`), the local
CloudFront in front of it (web origin = `cloud_backend/web`, API origin = the stand-in's HTTP), and
Debian's Chromium driven by Playwright. A console message or a CSP violation the page reports is kept,
so a test can assert there were none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from cloud_backend.local.stack import DEFAULT_TEMPLATE
from cloudfront_edge.emulator.local import EdgeSettings
from tests.cloud_process import CloudProcess
from tests.fakes.edge import RunningEdge

WEB = DEFAULT_TEMPLATE.parent / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def require_chromium() -> None:
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class WebStack:
    def __init__(self, folder: Path, token_seconds: int | None = None) -> None:
        self.folder = folder
        self.cloud = CloudProcess(folder / "cloud", token_seconds=token_seconds).start()
        config = folder / "function-config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "security_headers.json").write_text(
            json.dumps({"connectSrc": [f"ws://127.0.0.1:{self.cloud.ws_port}"]})
        )
        self.edge = RunningEdge(
            EdgeSettings(
                port=0,
                origins={"WebOrigin": str(WEB), "ApiOrigin": self.cloud.http},
                function_config=config,
            )
        )
        self.url = self.edge.url + "/"

    def restart_cloud(self) -> None:
        self.cloud.stop()
        self.cloud = CloudProcess(
            self.cloud.data_dir,
            self.cloud.mqtt_port,
            self.cloud.ws_port,
            self.cloud.http_port,
            token_seconds=self.cloud.token_seconds,
        ).start()

    def close(self) -> None:
        self.edge.close()
        self.cloud.stop()


class Page:
    """One browser user's page, with what it reported kept."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.sessions: list[dict[str, Any]] = []  # what /api/session and its renewals answered
        self.page.on("response", self._response)
        self.page.goto(url)

    def pump(self) -> None:
        """Playwright hands events (requests, responses, console lines) to Python only while Python
        calls it: a wait on what they record calls it each round."""
        self.page.evaluate("0")

    def _response(self, response: Any) -> None:
        if "/api/session" in response.url and response.ok:
            self.sessions.append(response.json())

    def sign_in(self, nick: str) -> None:
        self.page.fill("#nick", nick)
        self.page.press("#nick", "Enter")
        self.page.wait_for_selector("#link-state[data-state=online]", timeout=15000)

    def say(self, text: str) -> None:
        self.page.fill("#composer-input", text)
        self.page.press("#composer-input", "Enter")

    def texts(self, selector: str) -> list[str]:
        return [t.strip() for t in self.page.locator(selector).all_inner_texts()]

    def csp_violations(self) -> list[str]:
        self.pump()
        return [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]

    def errors(self) -> list[str]:
        self.pump()
        return [m for m in self.console if m.startswith("error:")]

    def close(self) -> None:
        self.context.close()
