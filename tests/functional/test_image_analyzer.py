"""The image analyzer under a real core: a watched folder, a video through cv2.VideoCapture, the demo
camera, frame-rate limiting, and frames that cannot be read."""

from __future__ import annotations

import base64
import itertools

import cv2
import numpy as np
from skimage import data

from edge_functions.vision import decode_image
from tests.edge_components import Listener, deploy, deploy_invalid

ANALYZER = "com.edgeway.ImageAnalyzer"
TOPICS = ["edgeway/vision", "edgeway/vision/thumbnails", "edgeway/errors"]


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_each_new_image_in_the_folder_is_analysed_once_and_a_corrupt_one_is_counted(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "1-astronaut.jpg").write_bytes(jpeg(data.astronaut()))
    deploy(
        core,
        tmp_path,
        {ANALYZER: {"Source": {"type": "folder", "path": str(folder)}, "MaxFramesPerSecond": 20}},
    )
    results = listener.wait("edgeway/vision", lambda r: len(r) >= 1)
    assert (results[0]["frame"], results[0]["faces"]) == ("1-astronaut.jpg", 1)
    assert results[0]["labels"]["face"] == 1
    thumb = listener.wait("edgeway/vision/thumbnails", lambda r: len(r) >= 1)[0]
    assert max(decode_image(base64.b64decode(thumb["jpeg"])).shape[:2]) == 160
    assert results[0]["thumbnail"] == thumb["jpeg"]  # the first one goes to the cloud's dashboard too

    (folder / "2-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "3-chelsea.png").write_bytes(cv2.imencode(".png", data.chelsea())[1].tobytes())
    after = listener.wait("edgeway/vision", lambda r: len(r) >= 2, what="the picture after the broken one")
    assert "thumbnail" not in after[1]  # within ThumbnailToCloudSeconds of the first: local only
    errors = listener.wait("edgeway/errors", lambda r: len(r) >= 1)
    assert "2-broken.jpg" in errors[0]["where"] and "not a readable image" in errors[0]["error"]
    assert "frame-refused" in core.log_text(ANALYZER)

    core.request("restart", name=ANALYZER)
    core.wait_state(ANALYZER, "RUNNING")
    (folder / "4-coffee.jpg").write_bytes(jpeg(data.coffee()))
    results = listener.wait("edgeway/vision", lambda r: len(r) >= 3, what="the image added after the restart")
    assert [r["frame"] for r in results] == ["1-astronaut.jpg", "3-chelsea.png", "4-coffee.jpg"]


def test_a_video_through_videocapture_with_motion(start_core, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    background = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (320, 240))
    for i in range(12):
        frame = background.copy()
        cv2.rectangle(frame, (20 + 20 * i, 80), (60 + 20 * i, 140), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(
        core,
        tmp_path,
        {ANALYZER: {"Source": {"type": "capture", "url": str(video)}, "MaxFramesPerSecond": 50}},
    )
    results = listener.wait("edgeway/vision", lambda r: len(r) >= 12, what="the clip's 12 frames")
    assert all(r["width"] == 320 for r in results)
    assert sum(1 for r in results if r["labels"].get("motion")) >= 10
    listener.wait("edgeway/errors", lambda r: len(r) >= 1, what="the end of the clip reported as no frame")
    assert core.state(ANALYZER) == "RUNNING"


def test_the_demo_camera_cycles_photographs_at_the_frame_rate_limit(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(
        core,
        tmp_path,
        {
            ANALYZER: {
                "Source": {"type": "demo", "photos": ["astronaut", "rocket"], "framesPerPhoto": 3},
                "MaxFramesPerSecond": 5,
                "LabelWindowSeconds": 60,
            }
        },
    )
    results = listener.wait("edgeway/vision", lambda r: len(r) >= 8, what="8 demo frames")
    assert [r["frame"].split("#")[0] for r in results[:6]] == ["astronaut"] * 3 + ["rocket"] * 3
    assert results[1]["faces"] == 1 and results[1]["labels"].get("motion") == 1
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(results)]
    assert min(gaps) >= 150, f"frames closer than the 5/s limit allows: {gaps}"
    assert results[-1]["window"]["face"] >= 3


def test_a_source_that_does_not_validate_reports_errored(start_core, tmp_path):
    core = start_core()
    log = deploy_invalid(
        core, tmp_path, ANALYZER, {"Source": {"type": "folder", "path": str(tmp_path / "nowhere")}}
    )
    assert "is not a folder" in log


def test_objects_from_the_model_store_component_label_the_demo_photographs(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(  # the model comes from com.edgeway.ObjectModel, staged and deployed as its dependency
        core,
        tmp_path,
        {
            ANALYZER: {
                "Source": {"type": "demo", "photos": ["astronaut", "chelsea"], "framesPerPhoto": 2},
                "MaxFramesPerSecond": 5,
            }
        },
    )
    results = listener.wait("edgeway/vision", lambda r: len(r) >= 4, what="4 demo frames")
    by_photo = {r["frame"].split("#")[0]: r for r in results}
    assert "person" in [o["label"] for o in by_photo["astronaut"]["objects"]]
    assert by_photo["chelsea"]["labels"].get("cat") == 1
    assert "com.edgeway.ObjectModel" in core.log_text()


def test_a_corrupt_model_reports_errored_naming_the_file(start_core, tmp_path):
    core = start_core()
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "mobilenet_ssd_v2_coco_quant_postprocess.tflite").write_bytes(b"\0" * 1024)
    (bad / "coco_labels.txt").write_text("0  person\n")
    log = deploy_invalid(
        core,
        tmp_path,
        ANALYZER,
        {"Analysis": {"analyses": ["objects", "faces"], "objects": {"modelDir": str(bad)}}},
        "com.edgeway.ObjectModel",
    )
    assert "mobilenet_ssd_v2_coco_quant_postprocess.tflite: not a TensorFlow Lite model" in log
