"""The vision handler: one frame in, one result record (and optionally a thumbnail) out.

    {"kind": "vision", "source", "ts", "width", "height", "objects": [{"label", "score", "box"}],
     "faces": n, "faceBoxes": [[x, y, w, h]], "motion": {"share", "boxes"}, "blur", "brightness",
     "colours": [{"name", "share"}], "labels": {name: count}, "thumbnail"?: base64 JPEG}

Which analyses run is configured (`analyses`), so a camera that only needs motion pays only for motion;
`objects` needs the model (`objects.modelDir`, or the folder in EDGEWAY_OBJECT_MODEL_DIR) and is not on
unless named.
Motion keeps the previous frame per source, as a pinned Lambda would keep it in its module.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import cv2

from .colours import dominant_colours
from .faces import FaceDetector, FaceSettings
from .frames import Frame, FrameError, check_frame, decode_image, load_image
from .labels import LabelSettings, derive_labels
from .motion import MotionDetector, MotionSettings
from .objects import ObjectDetector, ObjectSettings, object_labels
from .quality import blur_score, brightness
from .thumbnails import thumbnail

ANALYSES = ("objects", "faces", "motion", "blur", "brightness", "colours")
DEFAULT_ANALYSES = ("faces", "motion", "blur", "brightness", "colours")
MODEL_DIR_VARIABLE = "EDGEWAY_OBJECT_MODEL_DIR"


class VisionConfigError(ValueError):
    """A vision configuration that does not validate; the message names the key."""


def _settings(cls: type, raw: Any, where: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise VisionConfigError(f"{where} must be an object")
    names = {f.name: f for f in fields(cls)}
    camel = {"".join(p.capitalize() if i else p for i, p in enumerate(n.split("_"))): n for n in names}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in camel:
            raise VisionConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(camel))})")
        default = getattr(cls(), camel[key])
        if isinstance(default, str):
            if not isinstance(value, str):
                raise VisionConfigError(f"{where}.{key} must be a string, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise VisionConfigError(f"{where}.{key} must be a non-negative number, got {value!r}")
        values[camel[key]] = type(default)(value)
    try:
        settings = cls(**values)
    except (TypeError, ValueError) as exc:
        raise VisionConfigError(f"{where}: {exc}") from exc
    return settings


@dataclass(frozen=True)
class VisionConfig:
    analyses: tuple[str, ...] = DEFAULT_ANALYSES
    faces: FaceSettings = field(default_factory=FaceSettings)
    motion: MotionSettings = field(default_factory=MotionSettings)
    labels: LabelSettings = field(default_factory=LabelSettings)
    thumbnails: bool = True
    objects: ObjectSettings = field(default_factory=ObjectSettings)

    @classmethod
    def from_dict(cls, raw: Any, where: str = "configuration") -> VisionConfig:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise VisionConfigError(f"{where} must be an object")
        analyses = raw.get("analyses", list(DEFAULT_ANALYSES))
        if not isinstance(analyses, list) or not all(a in ANALYSES for a in analyses):
            raise VisionConfigError(f"{where}.analyses must be a list drawn from {', '.join(ANALYSES)}")
        thumbnails = raw.get("thumbnails", True)
        if not isinstance(thumbnails, bool):
            raise VisionConfigError(f"{where}.thumbnails must be true or false")
        motion = _settings(MotionSettings, raw.get("motion"), f"{where}.motion")
        if motion.method not in ("diff", "mog2"):
            raise VisionConfigError(f"{where}.motion.method must be diff or mog2, got {motion.method!r}")
        if _settings(FaceSettings, raw.get("faces"), f"{where}.faces").scale_factor <= 1.0:
            raise VisionConfigError(f"{where}.faces.scaleFactor must be above 1")
        return cls(
            tuple(analyses),
            _settings(FaceSettings, raw.get("faces"), f"{where}.faces"),
            motion,
            _settings(LabelSettings, raw.get("labels"), f"{where}.labels"),
            thumbnails,
            _settings(ObjectSettings, raw.get("objects"), f"{where}.objects"),
        )


class VisionAnalyzer:
    def __init__(self, config: VisionConfig = VisionConfig()) -> None:
        self.config = config
        self._faces = FaceDetector(config.faces) if "faces" in config.analyses else None
        self._objects = None
        if "objects" in config.analyses:
            folder = config.objects.model_dir or os.environ.get(MODEL_DIR_VARIABLE, "")
            if not folder:
                raise VisionConfigError(
                    f"objects needs objects.modelDir or {MODEL_DIR_VARIABLE}: the model's folder"
                )
            self._objects = ObjectDetector(Path(folder), config.objects)
        self._motion: dict[str, MotionDetector] = {}

    def analyze(self, frame: Frame, ts: int, source: str = "camera") -> dict[str, Any]:
        frame = check_frame(frame, source)
        wanted = self.config.analyses
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = self._faces.detect(gray) if self._faces is not None else []
        motion = None
        if "motion" in wanted:
            detector = self._motion.get(source)
            if detector is None:
                detector = self._motion[source] = MotionDetector(self.config.motion)
            motion = detector.update(gray)
        blur = round(blur_score(gray), 2) if "blur" in wanted else None
        luma = round(brightness(gray), 2) if "brightness" in wanted else None
        colours = dominant_colours(frame) if "colours" in wanted else []
        objects = self._objects.detect(frame) if self._objects is not None else []
        result: dict[str, Any] = {
            "kind": "vision",
            "source": source,
            "ts": ts,
            "width": int(frame.shape[1]),
            "height": int(frame.shape[0]),
            "objects": [d.to_dict() for d in objects],
            "faces": len(faces),
            "faceBoxes": [list(box) for box in faces],
            "motion": {"share": motion.share, "boxes": [list(b) for b in motion.boxes]} if motion else None,
            "blur": blur,
            "brightness": luma,
            "colours": colours,
            "labels": merged(
                object_labels(objects),
                derive_labels(
                    len(faces), motion.share if motion else None, blur, luma, colours, self.config.labels
                ),
            ),
        }
        if self.config.thumbnails:
            marked = [(d.box, f"{d.label} {d.score:.2f}") for d in objects]
            jpeg = thumbnail(frame, faces, motion.boxes if motion else (), objects=marked)
            result["thumbnail"] = base64.b64encode(jpeg).decode("ascii")
        return result


def merged(objects: dict[str, int], derived: dict[str, int]) -> dict[str, int]:
    """Object labels beside the derived ones; where both name a label (person), the larger count."""
    labels = dict(derived)
    for label, count in objects.items():
        labels[label] = max(count, labels.get(label, 0))
    return labels


_analyzer: VisionAnalyzer | None = None


def frame_from_event(event: Any) -> Frame:
    """`{"image": <base64 JPEG or PNG>}` or `{"path": <file>}`."""
    if not isinstance(event, dict):
        raise FrameError("the event must be an object with image (base64) or path")
    if isinstance(event.get("image"), str):
        try:
            data = base64.b64decode(event["image"], validate=True)
        except ValueError as exc:
            raise FrameError(f"image is not base64: {exc}") from exc
        return decode_image(data, "image")
    if isinstance(event.get("path"), str):
        return load_image(Path(event["path"]))
    raise FrameError("the event must carry image (base64) or path")


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry. Configuration from the `VISION_CONFIG` environment variable (JSON). A frame that
    cannot be read is answered with `{"kind": "error", "error": ...}`, not raised."""
    global _analyzer
    if _analyzer is None:
        _analyzer = VisionAnalyzer(VisionConfig.from_dict(json.loads(os.environ.get("VISION_CONFIG", "{}"))))
    try:
        frame = frame_from_event(event)
    except FrameError as exc:
        return {"kind": "error", "error": str(exc)}
    ts = event.get("ts") if isinstance(event.get("ts"), int) else int(time.time() * 1000)
    source = event.get("source") if isinstance(event.get("source"), str) else "event"
    return _analyzer.analyze(frame, ts, source)
