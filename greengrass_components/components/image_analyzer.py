"""The image analyzer component: frames from its source, at most `MaxFramesPerSecond`, through the
vision handler; results, thumbnails and label counts on local topics.

    python3 -m greengrass_components.components.image_analyzer

Per frame: `{"thing", "source", "records": [result]}` on the results topic (the result without its
thumbnail, so it stays small for the uplink, except one every `ThumbnailToCloudSeconds`: the
dashboard's latest frame), `{"thing", "source", "frame", "ts", "jpeg"}` on the
thumbnails topic, and every `LabelWindowSeconds` the window's label counts (the tag cloud). A frame
that cannot be read is logged, counted and reported on the errors topic; the loop goes on.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from edge_functions.vision import FrameError, LabelWindow, VisionAnalyzer, VisionConfig
from edge_functions.vision.analyzer import VisionConfigError
from edge_functions.vision.objects import ObjectModelError

from . import local_topics
from .component_main import ComponentConfigError, run_component
from .frame_sources import build_frame_source
from .ipc_client import CoreLink, thing_name
from .settings import number, section, text


class ImageAnalyzer:
    def __init__(self, link: CoreLink, config: dict[str, Any], log: logging.Logger) -> None:
        self.link, self.log = link, log
        self.thing = thing_name()
        try:
            self.analyzer = VisionAnalyzer(VisionConfig.from_dict(section(config, "Analysis"), "Analysis"))
        except (VisionConfigError, ObjectModelError) as exc:  # a missing or corrupt model among them
            raise ComponentConfigError(str(exc)) from exc
        self.min_interval = 1.0 / number(config, "MaxFramesPerSecond", 2, minimum=0.001)
        self.window = LabelWindow(number(config, "LabelWindowSeconds", 60, minimum=1))
        # A result carries its thumbnail to the cloud (the dashboard's latest frame) at most this often;
        # 0 never. Thumbnails stay on the local topic for every frame.
        self.thumbnail_every = number(config, "ThumbnailToCloudSeconds", 10, minimum=0)
        self._thumbnail_sent = float("-inf")
        self.topics = {
            "results": text(config, "ResultsTopic", local_topics.VISION),
            "thumbnails": text(config, "ThumbnailsTopic", local_topics.THUMBNAILS),
            "errors": text(config, "ErrorsTopic", local_topics.ERRORS),
        }
        source = section(config, "Source")
        self.source_name = str(source.get("name") or source.get("type"))
        self.source = build_frame_source(source, Path.cwd())
        self.counts = {"frames": 0, "refused": 0}

    def run(self, stop: threading.Event) -> None:
        summary_at = time.monotonic() + self.window.span_ms / 1000
        for frame_name, frame in self.source.frames(stop):
            started = time.monotonic()  # a frame is never taken sooner than the limit after the last
            if isinstance(frame, FrameError):
                self._refuse(frame_name, str(frame))
            else:
                self._analyse(frame_name, frame)
            if time.monotonic() >= summary_at:
                summary_at += self.window.span_ms / 1000
                self.log.info("vision-counts", extra=dict(self.counts))
            stop.wait(max(0.0, started + self.min_interval - time.monotonic()))

    def _analyse(self, frame_name: str, frame: Any) -> None:
        ts = int(time.time() * 1000)
        try:
            result = self.analyzer.analyze(frame, ts, self.source_name)
        except FrameError as exc:
            self._refuse(frame_name, str(exc))
            return
        self.counts["frames"] += 1
        jpeg = result.pop("thumbnail", None)
        result["frame"] = frame_name
        now = time.monotonic()
        if jpeg is not None and self.thumbnail_every and now - self._thumbnail_sent >= self.thumbnail_every:
            result["thumbnail"] = jpeg
            self._thumbnail_sent = now
        result["window"] = self.window.add(ts, result["labels"])
        self.link.publish_records(self.topics["results"], self.thing, self.source_name, [result])
        if jpeg is not None:
            self.link.publish_json(
                self.topics["thumbnails"],
                {
                    "thing": self.thing,
                    "source": self.source_name,
                    "frame": frame_name,
                    "ts": ts,
                    "jpeg": jpeg,
                },
            )

    def _refuse(self, frame_name: str, error: str) -> None:
        self.counts["refused"] += 1
        self.log.warning(
            "frame-refused", extra={"frame": frame_name, "error": error, "refused": self.counts["refused"]}
        )
        record = {"kind": "error", "where": frame_name, "error": error}
        self.link.publish_records(self.topics["errors"], self.thing, self.source_name, [record])

    def close(self) -> None:
        self.source.close()
        self.log.info("vision-counts", extra=dict(self.counts))


def main() -> int:
    return run_component("image_analyzer", ImageAnalyzer)


if __name__ == "__main__":
    sys.exit(main())
