"""The objects analysis on real photographs (scikit-image's data), with the model the build step fetches
(the pinned npm package, digests checked), and the errors a missing or corrupt model gives."""

from __future__ import annotations

import base64
import shutil

import cv2
import numpy as np
import pytest
from skimage import data

from edge_functions.vision import VisionAnalyzer, VisionConfig, decode_image
from edge_functions.vision.objects import (
    LABELS_FILE,
    MODEL_FILE,
    ObjectDetector,
    ObjectModelError,
    ObjectSettings,
)
from greengrass_components.publish.model_store import fetch_model


@pytest.fixture(scope="module")
def model_dir():
    return fetch_model()


@pytest.fixture(scope="module")
def detector(model_dir):
    return ObjectDetector(model_dir, ObjectSettings(threshold=0.5))


def bgr(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


@pytest.mark.parametrize(
    ("photo", "label"),
    [
        (data.astronaut, "person"),
        (data.chelsea, "cat"),
        (data.coffee, "cup"),
        (lambda: data.stereo_motorcycle()[0], "motorcycle"),
    ],
)
def test_the_model_finds_what_is_in_the_photograph(detector, photo, label):
    frame = bgr(photo())
    found = detector.detect(frame)
    best = max((d for d in found if d.label == label), key=lambda d: d.score, default=None)
    assert best is not None, f"{label} not found: {[(d.label, round(d.score, 2)) for d in found]}"
    x, y, w, h = best.box
    assert w > 0 and h > 0 and x + w <= frame.shape[1] and y + h <= frame.shape[0]


def test_a_flat_grey_frame_has_nothing_above_the_threshold(detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_boxes_come_back_in_the_frames_own_pixels_whatever_its_shape(detector):
    cat = bgr(data.chelsea())  # 300x451: letterboxed with bands above and below
    wide = cv2.copyMakeBorder(cat, 0, 0, 300, 300, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    (alone,) = [d for d in detector.detect(cat) if d.label == "cat"]
    (shifted,) = [d for d in detector.detect(wide) if d.label == "cat"]
    assert abs((shifted.box[0] - 300) - alone.box[0]) <= 0.1 * alone.box[2] + 4


def test_the_analyzer_puts_object_labels_beside_its_own_and_draws_them(model_dir):
    config = VisionConfig.from_dict(
        {
            "analyses": ["objects", "faces", "colours"],
            "objects": {"modelDir": str(model_dir), "threshold": 0.5},
        }
    )
    result = VisionAnalyzer(config).analyze(bgr(data.astronaut()), 1, "demo")
    assert result["labels"]["person"] == 1 and result["labels"]["face"] == 1
    assert [o["label"] for o in result["objects"]] == ["person"] and 0.5 <= result["objects"][0]["score"] <= 1
    thumbnail = decode_image(base64.b64decode(result["thumbnail"]), "thumbnail")
    plain = VisionAnalyzer(VisionConfig.from_dict({"analyses": ["faces"]})).analyze(
        bgr(data.astronaut()), 1, "demo"
    )
    without = decode_image(base64.b64decode(plain["thumbnail"]), "thumbnail")
    assert (
        np.abs(thumbnail.astype(int) - without.astype(int)).sum() > 0
    )  # the object's box and label are on it


def test_a_missing_model_names_the_file_and_what_was_expected(tmp_path):
    with pytest.raises(
        ObjectModelError, match=rf"{MODEL_FILE}: no such file; expected the SSD MobileNet v2 COCO"
    ):
        ObjectDetector(tmp_path)


def test_a_corrupt_model_names_the_file_and_what_was_expected(tmp_path, model_dir):
    shutil.copy(model_dir / LABELS_FILE, tmp_path / LABELS_FILE)
    (tmp_path / MODEL_FILE).write_bytes(b"not a model" * 100)
    with pytest.raises(
        ObjectModelError, match=rf"{MODEL_FILE}: not a TensorFlow Lite model this runtime can load"
    ):
        ObjectDetector(tmp_path)


def test_labels_that_are_not_coco_labels_are_refused_with_the_line(tmp_path, model_dir):
    shutil.copy(model_dir / MODEL_FILE, tmp_path / MODEL_FILE)
    (tmp_path / LABELS_FILE).write_text("0  person\nbicycle\n")
    with pytest.raises(ObjectModelError, match=rf"{LABELS_FILE}:2: expected '<class id>  <name>'"):
        ObjectDetector(tmp_path)


def test_the_other_analyses_work_without_any_model(monkeypatch):
    monkeypatch.delenv("EDGEWAY_OBJECT_MODEL_DIR", raising=False)
    result = VisionAnalyzer(VisionConfig.from_dict({"analyses": ["faces", "colours"]})).analyze(
        bgr(data.astronaut()), 1, "demo"
    )
    assert result["faces"] == 1 and result["objects"] == []
