"""The vision handler on real photographs (scikit-image's data set) and on files that are not images."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from edge_functions.vision import (
    FrameError,
    LabelWindow,
    VisionAnalyzer,
    VisionConfig,
    decode_image,
    load_image,
)
from edge_functions.vision import analyzer as vision_module
from edge_functions.vision.analyzer import VisionConfigError


def photo(name: str) -> np.ndarray:
    image = getattr(data, name)()
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.ndim == 3 else cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="module")
def analyzer() -> VisionAnalyzer:
    return VisionAnalyzer()


def test_the_face_in_astronaut_is_found_where_it_is(analyzer):
    result = analyzer.analyze(photo("astronaut"), 1, "astronaut")
    assert result["faces"] == 1
    x, y, w, h = result["faceBoxes"][0]
    # Eileen Collins's face: nose near (215, 115) in the 512x512 picture
    assert x < 215 < x + w and y < 115 < y + h
    assert 60 <= w <= 160
    assert result["labels"]["face"] == 1


@pytest.mark.parametrize("name", ["camera", "coffee", "rocket", "chelsea"])
def test_no_face_is_found_where_there_is_none(analyzer, name):
    assert analyzer.analyze(photo(name), 1, name)["faces"] == 0


def test_motion_between_two_shifted_frames_and_none_between_equal_ones():
    analyzer = VisionAnalyzer(VisionConfig(analyses=("motion",), thumbnails=False))
    frame = cv2.resize(photo("camera"), (640, 480))
    assert analyzer.analyze(frame, 0)["motion"]["share"] == 0.0  # nothing to compare with yet
    assert analyzer.analyze(frame.copy(), 1)["motion"] == {"share": 0.0, "boxes": []}
    moved = frame.copy()
    moved[200:300, 250:350] = np.roll(frame[200:300, 250:350], 30, axis=1)
    result = analyzer.analyze(moved, 2)
    assert 0.01 < result["motion"]["share"] < 0.2
    assert result["labels"].get("motion") == 1
    boxes = result["motion"]["boxes"]
    assert boxes
    assert min(x for x, _, _, _ in boxes) <= 260 and max(x + w for x, _, w, _ in boxes) >= 340
    assert min(y for _, y, _, _ in boxes) <= 210 and max(y + h for _, y, _, h in boxes) >= 290
    for x, y, w, h in boxes:  # and nothing outside the moved patch
        assert x >= 230 and y >= 180 and x + w <= 370 and y + h <= 320


def test_background_subtraction_sees_an_object_enter_the_scene():
    analyzer = VisionAnalyzer(
        VisionConfig.from_dict({"analyses": ["motion"], "thumbnails": False, "motion": {"method": "mog2"}})
    )
    scene = cv2.resize(photo("coffee"), (640, 480))
    for i in range(5):
        analyzer.analyze(scene, i)
    entered = scene.copy()
    cv2.rectangle(entered, (100, 100), (220, 260), (255, 255, 255), -1)
    assert analyzer.analyze(entered, 6)["motion"]["share"] > 0.02


def test_a_blurred_photograph_scores_as_blurry_and_the_sharp_one_does_not(analyzer):
    sharp = analyzer.analyze(photo("astronaut"), 1, "a")
    blurred = analyzer.analyze(cv2.GaussianBlur(photo("astronaut"), (21, 21), 0), 1, "b")
    assert blurred["blur"] < 100 < sharp["blur"]
    assert "blurry" in blurred["labels"] and "blurry" not in sharp["labels"]


def test_brightness_and_named_colours(analyzer):
    rocket = analyzer.analyze(photo("rocket"), 1, "r")
    assert rocket["colours"][0]["name"] == "blue" and rocket["labels"].get("blue") == 1
    cat = analyzer.analyze(photo("chelsea"), 1, "c")
    assert {c["name"] for c in cat["colours"][:2]} <= {"orange", "brown"}
    dark = analyzer.analyze((photo("camera") // 8).astype(np.uint8), 1, "d")
    assert dark["brightness"] < 50 and dark["labels"].get("dark") == 1


def test_the_thumbnail_is_a_jpeg_with_its_longest_side_160(analyzer):
    result = analyzer.analyze(photo("rocket"), 1, "r")
    thumb = decode_image(base64.b64decode(result["thumbnail"]))
    assert max(thumb.shape[:2]) == 160
    assert base64.b64decode(result["thumbnail"])[:2] == b"\xff\xd8"


def test_face_boxes_are_drawn_on_the_thumbnail(analyzer):
    result = analyzer.analyze(photo("astronaut"), 1, "x")
    with_boxes = decode_image(base64.b64decode(result["thumbnail"])).astype(int)
    plain = VisionAnalyzer(VisionConfig(analyses=("blur",))).analyze(photo("astronaut"), 1)
    without = decode_image(base64.b64decode(plain["thumbnail"])).astype(int)
    changed_y, changed_x = np.nonzero(np.abs(with_boxes - without).sum(axis=2) > 90)
    assert len(changed_x) > 100
    scale = 160 / 512
    x, y, w, h = (v * scale for v in result["faceBoxes"][0])
    assert changed_x.min() >= x - 3 and changed_x.max() <= x + w + 3
    assert changed_y.min() >= y - 3 and changed_y.max() <= y + h + 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no bytes"),
        (b"this is a text file, not a picture\n", "not a readable image"),
        (bytes(range(256)) * 40, "not a readable image"),
    ],
)
def test_unreadable_files_are_frame_errors_naming_the_file(tmp_path: Path, content, message):
    path = tmp_path / "frame.jpg"
    path.write_bytes(content)
    with pytest.raises(FrameError, match=message) as caught:
        load_image(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_and_a_tiny_image_are_frame_errors(tmp_path: Path):
    with pytest.raises(FrameError, match="cannot read"):
        load_image(tmp_path / "absent.jpg")
    _ok, tiny = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FrameError, match="too small"):
        decode_image(tiny.tobytes())


def test_the_lambda_entry_answers_an_unreadable_frame_with_an_error_record(monkeypatch):
    monkeypatch.setattr(vision_module, "_analyzer", None)
    assert vision_module.handler({"image": "***"}, None)["kind"] == "error"
    assert (
        "not a readable image"
        in vision_module.handler({"image": base64.b64encode(b"junk").decode()}, None)["error"]
    )
    _ok, jpeg = cv2.imencode(".jpg", photo("astronaut"))
    result = vision_module.handler({"image": base64.b64encode(jpeg.tobytes()).decode(), "ts": 7}, None)
    assert (result["kind"], result["ts"], result["faces"]) == ("vision", 7, 1)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"analyses": ["faces", "x-ray"]}, "analyses must be a list"),
        ({"faces": {"scaleFactor": 1.0}}, "scaleFactor must be above 1"),
        ({"faces": {"minNeighbours": 3}}, "unknown key 'minNeighbours'"),
        ({"motion": {"method": "optical-flow"}}, "motion.method must be diff or mog2"),
        ({"thumbnails": "yes"}, "thumbnails must be true or false"),
    ],
)
def test_a_vision_configuration_that_does_not_validate_names_the_key(raw, message):
    with pytest.raises(VisionConfigError, match=message):
        VisionConfig.from_dict(raw)


def test_label_counts_over_a_window_make_the_tag_cloud():
    window = LabelWindow(seconds=10)
    window.add(0, {"face": 2, "red": 1})
    window.add(5_000, {"face": 1, "motion": 1})
    assert window.add(9_000, {"motion": 1}) == {"face": 3, "motion": 2, "red": 1}
    assert window.add(12_000, {}) == {"face": 1, "motion": 2}
