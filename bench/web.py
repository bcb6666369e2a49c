"""The web app in Debian's Chromium against the stand-in through the local CloudFront, printing JSON:

- page weight: HTML, JS and CSS bytes as served (goal: under 100 KB together, uncompressed);
- time from navigation to a usable chat (the sign-in form shown; then signed in, connected, history in);
- publish-to-paint latency, p50 and p95, for chat messages and for telemetry points, each at 20
  messages/s (goal: p95 under 250 ms): a paho client publishes, the page's paint is observed with a
  MutationObserver and the next animation frame, on the same clock;
- JS heap after a steady load of 20 things x 4 sensors x 1 Hz (20 messages/s to the dashboard),
  after 1 minute and after `--minutes` (default 10), garbage collected first (goal: growth under 20%).

    python bench/web.py [--minutes 10] [--rate 20] [--count 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine
from tests.e2e.web_stack import CHROMIUM, CHROMIUM_ARGS, Page, WebStack

OBSERVE = """
(selector) => {
  if (window.__observer) window.__observer.disconnect();
  window.__painted = [];
  const seen = (text) => requestAnimationFrame(() => window.__painted.push([text, Date.now()]));
  window.__observer = new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "characterData") seen(change.target.textContent);
      for (const node of change.addedNodes) seen(node.textContent);
    }
  });
  const watch = { childList: true, subtree: true, characterData: true };
  window.__observer.observe(document.querySelector(selector), watch);
}
"""
FORGET = "() => { window.__observer.disconnect(); window.__observer = null; window.__painted = []; }"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def client(stack: WebStack, client_id: str, token: str) -> mqtt.Client:
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    paho.username_pw_set("edgeway", token)
    paho.connect("127.0.0.1", stack.cloud.mqtt_port)
    paho.loop_start()
    deadline = time.monotonic() + 15
    while not paho.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    return paho


def paced(count: int, rate: float, send: Any) -> dict[int, float]:
    """Calls send(n) `count` times at `rate` per second; returns n -> wall-clock ms when sent."""
    sent: dict[int, float] = {}
    start = time.monotonic()
    for n in range(count):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent[n] = time.time() * 1000
        send(n)
    return sent


def painted(page: Page, prefix: str, count: int, timeout: float = 30) -> dict[int, float]:
    deadline = time.monotonic() + timeout
    found: dict[int, float] = {}
    while time.monotonic() < deadline and len(found) < count:
        for text, when in page.page.evaluate("window.__painted.splice(0)"):
            marker = text.find(prefix)
            if marker >= 0:
                digits = "".join(c for c in text[marker + len(prefix) :].split()[0] if c.isdigit())
                if digits:
                    found.setdefault(int(digits), when)
        page.page.wait_for_timeout(50)
    return found


def page_weight(page: Page) -> dict[str, int]:
    sizes = page.page.evaluate(
        """() => performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
              .map((e) => [e.name, e.decodedBodySize, e.initiatorType])"""
    )
    weight = {"html": 0, "js": 0, "css": 0}
    for name, size, _ in sizes:
        kind = (
            "js"
            if name.endswith(".js")
            else "css"
            if name.endswith(".css")
            else "html"
            if name.endswith("/") or name.endswith(".html")
            else None
        )
        if kind:
            weight[kind] += int(size)
    weight["total"] = sum(weight.values())
    return weight


def heap(page: Page, session: Any) -> int:
    session.send("HeapProfiler.collectGarbage")
    return int(session.send("Runtime.getHeapUsage")["usedSize"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"machine": machine(), "rate_per_s": args.rate, "messages": args.count}
    with tempfile.TemporaryDirectory(prefix="edgeway-bench-web-") as folder, sync_playwright() as playwright:
        stack = WebStack(Path(folder))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            started = time.monotonic()
            page = Page(browser, stack.url)
            page.page.wait_for_selector("#sign-in")
            form_ms = (time.monotonic() - started) * 1000
            page.sign_in("bench")
            page.page.wait_for_selector("#presence li")
            result["page_weight_bytes"] = page_weight(page)
            result["navigation_to_sign_in_form_ms"] = round(form_ms, 1)
            result["navigation_to_usable_chat_ms"] = round((time.monotonic() - started) * 1000, 1)

            session = stack.cloud.session("sender")
            sender = client(stack, session["clientId"], session["token"])
            page.page.evaluate(OBSERVE, "#messages")

            def chat(n: int) -> None:
                body = {
                    "type": "message",
                    "room": "lobby",
                    "text": f"bench-{n}",
                    "id": f"b-{n}",
                    "user": "sender",
                }
                sender.publish("chat/out", json.dumps(body), qos=0)

            sent = paced(args.count, args.rate, chat)
            seen = painted(page, "bench-", args.count)
            latencies = [seen[n] - sent[n] for n in sent if n in seen]
            result["chat_publish_to_paint_ms"] = {
                "p50": percentile(latencies, 0.5),
                "p95": percentile(latencies, 0.95),
                "painted": len(latencies),
                "sent": len(sent),
            }

            page.page.click("#tab-dashboard")
            device = client(stack, "bench-gw", stack.cloud.device_token("bench-gw"))
            device.publish(
                "chat/stream",
                json.dumps({"thing": "bench-gw", "readings": [{"sensor": "seq", "value": -1, "ts": 0}]}),
                qos=1,
            )
            page.page.wait_for_selector("#charts figure[data-series='bench-gw/seq']")
            page.page.evaluate(OBSERVE, "#charts")

            def reading(n: int) -> None:
                record = {"sensor": "seq", "value": n, "ts": int(time.time() * 1000), "id": f"s-{n}"}
                device.publish("chat/stream", json.dumps({"thing": "bench-gw", "readings": [record]}), qos=0)

            sent = paced(args.count, args.rate, reading)
            seen = painted(page, "seq: ", args.count)
            latencies = [seen[n] - sent[n] for n in sent if n in seen]
            result["telemetry_publish_to_paint_ms"] = {
                "p50": percentile(latencies, 0.5) if latencies else None,
                "p95": percentile(latencies, 0.95) if latencies else None,
                "painted": len(latencies),
                "sent": len(sent),
                "note": "readings are batched by the stream (1 s window): a point is its batch's last",
            }

            page.page.evaluate(FORGET)  # the measuring must not be what grows the heap
            cdp = page.context.new_cdp_session(page.page)
            stop = threading.Event()

            def load() -> None:
                n = 0
                while not stop.is_set():
                    tick = time.monotonic()
                    for thing in range(20):
                        readings = [
                            {
                                "sensor": s,
                                "value": (n + thing) % 50,
                                "ts": int(time.time() * 1000),
                                "id": f"l-{thing}-{s}-{n}",
                            }
                            for s in ("temperature", "humidity", "pressure", "light")
                        ]
                        device.publish(
                            "chat/stream",
                            json.dumps({"thing": f"load-{thing:02d}", "readings": readings}),
                            qos=0,
                        )
                    n += 1
                    stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))

            loader = threading.Thread(target=load, daemon=True)
            loader.start()
            page.page.wait_for_timeout(60_000)
            after_one = heap(page, cdp)
            page.page.wait_for_timeout(max(0.0, args.minutes - 1) * 60_000)
            after_all = heap(page, cdp)
            stop.set()
            loader.join(5)
            result["js_heap_bytes"] = {
                "after_1_min": after_one,
                f"after_{args.minutes:g}_min": after_all,
                "growth_percent": round((after_all - after_one) * 100 / after_one, 1),
                "series": page.page.locator("#charts figure").count(),
            }
            sender.loop_stop()
            device.loop_stop()
        finally:
            browser.close()
            stack.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
