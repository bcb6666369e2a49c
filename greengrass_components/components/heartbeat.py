"""Example component: writes a structured heartbeat line to stdout at an interval.

It stands in `recipes/` until the real components land, so that `edgeway up`
shows a core running something from a recipe. Its lines reach the component's
log through the core, as any component's stdout does.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--thing", default="")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        print(f"--interval must be positive, got {args.interval}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    beats = 0
    while not stop.is_set():
        beats += 1
        print(
            json.dumps(
                {
                    "event": "heartbeat",
                    "thing": args.thing,
                    "beat": beats,
                    "uptime_s": round(time.monotonic() - started, 1),
                }
            ),
            flush=True,
        )
        stop.wait(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
