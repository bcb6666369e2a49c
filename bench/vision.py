"""Frames per second of each vision analysis on 640x480 frames, on one core (OpenCV limited to one thread).

    python bench/vision.py [--seconds 2] [--repeat 3]

Frames: scikit-image's astronaut at 640x480 with a disc moving across it (so motion has work to do).
Each analysis runs for a bounded count and time, --repeat times: frames per second and CPU milliseconds
per frame (this process's, every thread), as min/median/max. Goals (on the medians): faces >= 15
frames/s, motion >= 300, objects >= 15 (the SSD MobileNet model from the model store, LiteRT on one
thread; its import and model load times are reported too, measured in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

from bench.machine import machine  # noqa: E402
from bench.measure import spread  # noqa: E402
from edge_functions.vision import VisionAnalyzer, VisionConfig  # noqa: E402
from edge_functions.vision.analyzer import DEFAULT_ANALYSES  # noqa: E402
from edge_functions.vision.colours import dominant_colours  # noqa: E402
from edge_functions.vision.faces import FaceDetector  # noqa: E402
from edge_functions.vision.motion import MotionDetector  # noqa: E402
from edge_functions.vision.objects import ObjectDetector  # noqa: E402
from edge_functions.vision.quality import blur_score, brightness  # noqa: E402
from edge_functions.vision.thumbnails import thumbnail  # noqa: E402
from greengrass_components.publish.model_store import fetch_model  # noqa: E402

LOAD = """
import time, sys
started = time.perf_counter()
from ai_edge_litert.interpreter import Interpreter
imported = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from edge_functions.vision.objects import ObjectDetector
ObjectDetector(Path(sys.argv[1]))
print(imported - started, time.perf_counter() - imported)
"""


def load_times(model: Path) -> tuple[float, float]:
    """(import of the runtime, model load) in seconds, in a process of their own."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(model), str(REPO)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    imported, loaded = (float(v) for v in done.stdout.split())
    return imported, loaded


def frames(count: int = 30) -> list[np.ndarray]:
    base = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (640, 480))
    out = []
    for i in range(count):
        frame = base.copy()
        cv2.circle(frame, (40 + 18 * i, 240), 30, (40, 200, 255), -1)
        out.append(frame)
    return out


def rate(
    work: Callable[[int], Any], seconds: float, repeat: int, max_frames: int = 100_000
) -> dict[str, Any]:
    """Frames per second and CPU ms per frame, each as min/median/max over `repeat` runs."""
    work(0)  # warm up (cascade load, first allocation)
    per_second, cpu_ms = [], []
    for _ in range(repeat):
        done, start, cpu = 0, time.perf_counter(), time.process_time()
        while done < max_frames and time.perf_counter() - start < seconds:
            work(done)
            done += 1
        per_second.append(done / (time.perf_counter() - start))
        cpu_ms.append(1000 * (time.process_time() - cpu) / done)
    return {"frames_per_s": spread(per_second, 1), "cpu_ms_per_frame": spread(cpu_ms, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per analysis and run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    colour = frames()
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in colour]
    n = len(colour)
    faces, motion = FaceDetector(), MotionDetector()
    full = VisionAnalyzer(VisionConfig(thumbnails=True))
    model = fetch_model()
    objects = ObjectDetector(model)
    with_objects = VisionAnalyzer(
        VisionConfig.from_dict(
            {"analyses": ["objects", *DEFAULT_ANALYSES], "objects": {"modelDir": str(model)}}
        )
    )
    imported, loaded = load_times(model)
    results = {
        "faces": rate(lambda i: faces.detect(gray[i % n]), args.seconds, args.repeat),
        "motion": rate(lambda i: motion.update(gray[i % n]), args.seconds, args.repeat),
        "blur": rate(lambda i: blur_score(gray[i % n]), args.seconds, args.repeat),
        "brightness": rate(lambda i: brightness(gray[i % n]), args.seconds, args.repeat),
        "colours": rate(lambda i: dominant_colours(colour[i % n]), args.seconds, args.repeat),
        "thumbnail": rate(lambda i: thumbnail(colour[i % n], [(176, 60, 96, 96)]), args.seconds, args.repeat),
        "grey_conversion": rate(
            lambda i: cv2.cvtColor(colour[i % n], cv2.COLOR_BGR2GRAY), args.seconds, args.repeat
        ),
        "all_analyses_and_thumbnail": rate(
            lambda i: full.analyze(colour[i % n], i, "bench"), args.seconds, args.repeat
        ),
        "objects": rate(lambda i: objects.detect(colour[i % n]), args.seconds, args.repeat),
        "objects_and_all_analyses": rate(
            lambda i: with_objects.analyze(colour[i % n], i, "bench"), args.seconds, args.repeat
        ),
    }
    print(
        json.dumps(
            {
                "benchmark": "vision",
                "frame": "640x480 BGR",
                "opencv_threads": 1,
                "repeat": args.repeat,
                "analyses": results,
                "objects_model": {"runtime_import_s": round(imported, 3), "model_load_s": round(loaded, 3)},
                "goals": {
                    "faces>=15": results["faces"]["frames_per_s"]["median"] >= 15,
                    "motion>=300": results["motion"]["frames_per_s"]["median"] >= 300,
                    "objects>=15": results["objects"]["frames_per_s"]["median"] >= 15,
                },
                "opencv": cv2.__version__,
                "machine": machine(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
