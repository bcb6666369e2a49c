"""Objects in a frame: an SSD MobileNet v2 COCO model (TensorFlow Lite, 8-bit, with its
post-processing in the graph) run with LiteRT (`ai-edge-litert`), as AWS's
`aws.greengrass.TensorFlowLite.ObjectDetection` runs its model store's SSD MobileNet.

The frame is letterboxed to the model's 300x300 input (scaled to fit, the rest grey), so nothing is
stretched; boxes come back in the frame's own pixels. Detections below the threshold are dropped.
The model and labels are checked when loaded: a missing or unreadable file is an `ObjectModelError`
that names the file and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .frames import Frame

MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
LABELS_FILE = "coco_labels.txt"
PAD = 114  # the letterbox's grey


class ObjectModelError(ValueError):
    """The object model or its labels cannot be used; the message names the file and what was expected."""


@dataclass(frozen=True)
class ObjectSettings:
    model_dir: str = ""  # holds MODEL_FILE and LABELS_FILE; "" takes EDGEWAY_OBJECT_MODEL_DIR
    threshold: float = 0.5
    max_objects: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be above 0 and at most 1, got {self.threshold}")
        if self.max_objects < 1:
            raise ValueError(f"maxObjects must be at least 1, got {self.max_objects}")


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[int, int, int, int]  # x, y, width, height in the frame's pixels

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": round(self.score, 3), "box": list(self.box)}


def load_labels(path: Path) -> dict[int, str]:
    """`<class id>  <name>` per line, as the model's labels file has them."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ObjectModelError(
            f"{path}: cannot read the labels ({exc}); expected COCO labels, one per line"
        ) from exc
    labels: dict[int, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        index, _, name = line.strip().partition(" ")
        if not index.isdigit() or not name.strip():
            raise ObjectModelError(f"{path}:{number}: expected '<class id>  <name>', got {line[:60]!r}")
        labels[int(index)] = name.strip()
    if not labels:
        raise ObjectModelError(f"{path}: no labels in it; expected COCO labels, one per line")
    return labels


class ObjectDetector:
    def __init__(
        self, model_dir: Path, settings: ObjectSettings = ObjectSettings(), threads: int = 1
    ) -> None:
        self.settings = settings
        model = model_dir / MODEL_FILE
        if not model.is_file():
            raise ObjectModelError(
                f"{model}: no such file; expected the SSD MobileNet v2 COCO model"
                " (the artifact of com.edgeway.ObjectModel)"
            )
        self.labels = load_labels(model_dir / LABELS_FILE)
        try:
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=str(model), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ObjectModelError(
                f"{model}: not a TensorFlow Lite model this runtime can load ({exc}); expected the SSD"
                " MobileNet v2 COCO quantised model with post-processing"
            ) from exc
        (entry,) = self._interpreter.get_input_details()
        shape = tuple(int(n) for n in entry["shape"])
        if len(shape) != 4 or shape[3] != 3 or entry["dtype"] != np.uint8:
            raise ObjectModelError(f"{model}: input {shape} {entry['dtype']}; expected 1x300x300x3 uint8")
        self._input = entry["index"]
        self.size = (shape[2], shape[1])  # width, height
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: str(d["name"]))
        if len(outputs) != 4:
            raise ObjectModelError(
                f"{model}: {len(outputs)} outputs; expected boxes, classes, scores and a count"
            )
        self._boxes, self._classes, self._scores, self._count = (o["index"] for o in outputs)

    def letterbox(self, frame: Frame) -> tuple[np.ndarray, float, int, int]:
        """The frame scaled to fit the model's input, centred on grey: (input, scale, x offset, y offset)."""
        width, height = self.size
        scale = min(width / frame.shape[1], height / frame.shape[0])
        resized = cv2.resize(
            frame,
            (round(frame.shape[1] * scale), round(frame.shape[0] * scale)),
            interpolation=cv2.INTER_AREA,
        )
        canvas = np.full((height, width, 3), PAD, dtype=np.uint8)
        dx, dy = (width - resized.shape[1]) // 2, (height - resized.shape[0]) // 2
        canvas[dy : dy + resized.shape[0], dx : dx + resized.shape[1]] = cv2.cvtColor(
            resized, cv2.COLOR_BGR2RGB
        )
        return canvas, scale, dx, dy

    def detect(self, frame: Frame) -> list[Detection]:
        canvas, scale, dx, dy = self.letterbox(frame)
        self._interpreter.set_tensor(self._input, canvas[np.newaxis])
        self._interpreter.invoke()
        boxes = self._interpreter.get_tensor(self._boxes)[0]
        classes = self._interpreter.get_tensor(self._classes)[0]
        scores = self._interpreter.get_tensor(self._scores)[0]
        count = int(self._interpreter.get_tensor(self._count)[0])
        width, height = self.size
        found = []
        for i in range(min(count, len(scores))):
            score = float(scores[i])
            if score < self.settings.threshold:
                continue
            top, left, bottom, right = (float(v) for v in boxes[i])
            x0 = max(0, round((left * width - dx) / scale))
            y0 = max(0, round((top * height - dy) / scale))
            x1 = min(frame.shape[1], round((right * width - dx) / scale))
            y1 = min(frame.shape[0], round((bottom * height - dy) / scale))
            label = self.labels.get(int(classes[i]), f"class {int(classes[i])}")
            found.append(Detection(label, score, (x0, y0, max(0, x1 - x0), max(0, y1 - y0))))
        found.sort(key=lambda d: -d.score)
        return found[: self.settings.max_objects]


def object_labels(detections: list[Detection]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for detection in detections:
        counts[detection.label] = counts.get(detection.label, 0) + 1
    return counts
