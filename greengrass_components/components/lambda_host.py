"""The Lambda host component: runs any `module:function` handler as a Greengrass Lambda component would.

    python3 -m greengrass_components.components.lambda_host

Events from the configured sources (local PUB_SUB topics or IOT_CORE topics) wait in one FIFO queue of
`MaxQueueSize` (overflow policy in `lambda_config`); `MaxInstancesCount` workers take them in order.
Each worker is a process (`lambda_worker`): pinned workers start with the component and live as long as
it does (module state lasts across invocations); on-demand workers start with the first event and stop
after `MaxIdleTimeInSeconds` without one. An invocation past `TimeoutInSeconds` kills its worker (a new
one takes its place); a handler that raises, or times out, is logged, an error record goes to the errors
topic, and the host keeps serving. A result that is not None goes to `ResultTopic` when one is set.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from .component_main import ComponentConfigError, run_component
from .ipc_client import CoreLink, thing_name
from .lambda_config import LambdaConfig

LOCAL_ACCOUNT = "000000000000"  # no account on a core: the ARN keeps its shape


class InvocationError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class Worker:
    def __init__(self, config: LambdaConfig, log: logging.Logger) -> None:
        self.config, self.log = config, log
        env = {**os.environ, **config.environment}
        paths = [p for p in (config.code_path, env.get("PYTHONPATH", "")) if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "greengrass_components.components.lambda_worker", config.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name=f"worker-{self.process.pid}").start()
        self.last_used = time.monotonic()
        ready = self._next(30.0)
        if ready is None or not ready.get("ok"):
            self.stop()
            reason = ready.get("error") if ready else "the worker exited before it was ready"
            raise ComponentConfigError(f"configuration.Handler: {reason}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                self.log.warning("worker-output-not-json", extra={"line": line[:200]})
        self._answers.put(None)

    def _next(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None

    def invoke(self, event: Any, context: dict[str, Any], timeout: float) -> Any:
        assert self.process.stdin is not None
        request_id = context["requestId"]
        self.last_used = time.monotonic()
        try:
            self.process.stdin.write(
                json.dumps({"id": request_id, "event": event, "context": context}) + "\n"
            )
            self.process.stdin.flush()
            answer = self._next(timeout)
        except TimeoutError:
            self.stop()
            raise InvocationError("Timeout", f"timed out after {timeout:g} s") from None
        except (BrokenPipeError, OSError) as exc:
            self.stop()
            raise InvocationError("WorkerExited", f"the worker is gone: {exc}") from exc
        finally:
            self.last_used = time.monotonic()
        if answer is None:
            self.stop()
            raise InvocationError("WorkerExited", f"the worker exited with {self.process.wait()}")
        if not answer.get("ok"):
            raise InvocationError(str(answer.get("errorType")), str(answer.get("error")))
        return answer.get("result")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class LambdaHost:
    def __init__(self, link: CoreLink, config: dict[str, Any], log: logging.Logger) -> None:
        self.link, self.log = link, log
        self.config = LambdaConfig.from_dict(config)
        self.thing = thing_name()
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{self.config.function_name}"
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=self.config.max_queue_size)
        self.outbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.counts = {"invocations": 0, "errors": 0, "timeouts": 0, "overflows": 0}
        self._lock = threading.Lock()
        self.workers: list[Worker | None] = [None] * self.config.max_instances
        if self.config.pinned:
            self.workers = [Worker(self.config, log) for _ in range(self.config.max_instances)]

    # -- events in ------------------------------------------------------------

    def _decode(self, body: Any) -> Any:
        if isinstance(body, bytes):
            if self.config.encoding == "binary":
                return base64.b64encode(body).decode("ascii")
            try:
                return json.loads(body)
            except ValueError:
                return body.decode("utf-8", "replace")
        return body

    def enqueue(self, topic: str, body: Any) -> None:
        """From the SDK's thread: never blocks, never calls the core (the outbox does that)."""
        try:
            self.events.put_nowait((topic, self._decode(body)))
        except queue.Full:
            with self._lock:
                self.counts["overflows"] += 1
            self.outbox.put(
                (
                    topic,
                    {
                        "errorType": "QueueFull",
                        "error": f"the queue of {self.config.max_queue_size} is full; event refused",
                    },
                )
            )

    # -- invocations ----------------------------------------------------------

    def _serve(self, slot: int, stop: threading.Event) -> None:
        config = self.config
        while not stop.is_set():
            try:
                topic, event = self.events.get(timeout=0.2)
            except queue.Empty:
                worker = self.workers[slot]
                if (
                    worker is not None
                    and (not config.pinned)
                    and time.monotonic() - worker.last_used > config.max_idle_seconds
                ):
                    worker.stop()
                    self.workers[slot] = None
                    self.log.info("worker-idle-stopped", extra={"slot": slot})
                continue
            worker = self.workers[slot]
            if worker is None or not worker.alive:
                worker = self.workers[slot] = Worker(config, self.log)
            context = {
                "functionName": config.function_name,
                "invokedFunctionArn": self.function_arn,
                "requestId": str(uuid.uuid4()),
                "deadline": time.time() + config.timeout_seconds,
                "topic": topic,
                "thing": self.thing,
            }
            try:
                result = worker.invoke(event, context, config.timeout_seconds)
            except InvocationError as exc:
                with self._lock:
                    self.counts["timeouts" if exc.error_type == "Timeout" else "errors"] += 1
                self._error(
                    topic, {"errorType": exc.error_type, "error": str(exc), "requestId": context["requestId"]}
                )
                continue
            with self._lock:
                self.counts["invocations"] += 1
            if result is not None and config.result_topic:
                self.link.publish_json(
                    config.result_topic, {"function": config.function_name, "topic": topic, "result": result}
                )

    def _error(self, topic: str, detail: dict[str, Any]) -> None:
        record = {"kind": "error", "function": self.config.function_name, "topic": topic, **detail}
        self.log.warning("invocation-failed", extra=record)
        self.link.publish_records(self.config.errors_topic, self.thing, self.config.function_name, [record])

    def run(self, stop: threading.Event) -> None:
        for source in self.config.event_sources:
            if source.type == "IOT_CORE":
                self.link.subscribe_iot_core(source.topic, self.enqueue)
            else:
                self.link.subscribe(source.topic, self.enqueue)
        self.log.info("component-ready", extra={"sources": [s.topic for s in self.config.event_sources]})
        threads = [
            threading.Thread(target=self._serve, args=(slot, stop), name=f"lambda-{slot}", daemon=True)
            for slot in range(self.config.max_instances)
        ]
        for thread in threads:
            thread.start()
        while not stop.is_set():
            try:
                topic, detail = self.outbox.get(timeout=0.2)
            except queue.Empty:
                continue
            self._error(topic, detail)
        for thread in threads:
            thread.join(timeout=self.config.timeout_seconds + 1)

    def close(self) -> None:
        for worker in self.workers:
            if worker is not None:
                worker.stop()
        self.log.info("lambda-host-counts", extra=dict(self.counts))


def main() -> int:
    return run_component("lambda_host", LambdaHost)


if __name__ == "__main__":
    sys.exit(main())
