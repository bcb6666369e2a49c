"""Where frames come from: a watched folder, a camera or stream URL through `cv2.VideoCapture`, and a
demo camera that cycles real photographs from scikit-image's data set with an object moving across them.

Each source yields `(name, frame or FrameError)`: an unreadable frame is reported to the caller, which
logs and counts it; the source goes on.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_functions.vision import FrameError, load_image
from edgeway_common.sqlite_files import open_wal

from .component_main import ComponentConfigError
from .settings import number, text

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
DEMO_PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket")

Frames = Iterator[tuple[str, Any]]


class FolderSource:
    """New images in a folder, each once: a file is taken when its size has stopped changing between two
    looks (so a half-written file waits), and what was taken is remembered in SQLite across restarts."""

    def __init__(self, folder: Path, state: Path, poll_seconds: float = 0.25) -> None:
        self.folder, self.poll_seconds = folder, poll_seconds
        self._db = open_wal(state, "CREATE TABLE IF NOT EXISTS seen (name TEXT PRIMARY KEY);", "NORMAL")

    def frames(self, stop: threading.Event) -> Frames:
        sizes: dict[str, int] = {}
        while not stop.is_set():
            candidates = sorted(
                p for p in self.folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            for path in candidates:
                if self._seen(path.name):
                    continue
                size = path.stat().st_size
                if sizes.get(path.name) != size:
                    sizes[path.name] = size  # look again next round
                    continue
                self._db.execute("INSERT OR IGNORE INTO seen (name) VALUES (?)", (path.name,))
                try:
                    yield path.name, load_image(path)
                except FrameError as exc:
                    yield path.name, exc
            stop.wait(self.poll_seconds)

    def _seen(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM seen WHERE name = ?", (name,)).fetchone() is not None

    def close(self) -> None:
        self._db.close()


class CaptureSource:
    """A camera index (`0`) or stream URL (`rtsp://...`, a video file). A failed read is an error frame;
    after `max_failures` in a row the capture is opened again, after a pause."""

    def __init__(self, url: str, max_failures: int = 5) -> None:
        self.url, self.max_failures = url, max_failures

    def _open(self) -> cv2.VideoCapture:
        return cv2.VideoCapture(int(self.url) if self.url.isdigit() else self.url)

    def frames(self, stop: threading.Event) -> Frames:
        capture, failures, count = self._open(), 0, 0
        try:
            while not stop.is_set():
                ok, frame = capture.read() if capture.isOpened() else (False, None)
                count += 1
                if ok and frame is not None:
                    failures = 0
                    yield f"{self.url}#{count}", frame
                    continue
                failures += 1
                yield f"{self.url}#{count}", FrameError(f"{self.url}: no frame could be read")
                if failures >= self.max_failures:
                    capture.release()
                    stop.wait(min(30.0, 0.5 * failures))
                    capture = self._open()
        finally:
            capture.release()

    def close(self) -> None:
        pass


class DemoSource:
    """Real photographs (scikit-image's `data.astronaut()`, `coffee()`, ...) at `width`x`height`, each
    shown for `frames_per_photo` frames with a disc moving across it, so motion is there to find."""

    def __init__(self, photos: list[str], width: int, height: int, frames_per_photo: int = 20) -> None:
        from skimage import data

        self.width, self.height, self.frames_per_photo = width, height, frames_per_photo
        self.photos: list[tuple[str, Any]] = []
        for name in photos:
            loader = getattr(data, name, None)
            if loader is None or name.startswith("_"):
                raise ComponentConfigError(f"Source.photos: scikit-image has no photograph {name!r}")
            image = np.asarray(loader())
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.ndim == 3 else cv2.COLOR_GRAY2BGR)
            self.photos.append((name, cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)))
        if not self.photos:
            raise ComponentConfigError("Source.photos must name at least one photograph")

    def frame(self, index: int) -> tuple[str, Any]:
        name, photo = self.photos[(index // self.frames_per_photo) % len(self.photos)]
        step = index % self.frames_per_photo
        frame = photo.copy()
        x = int((step + 0.5) / self.frames_per_photo * self.width)
        y = int(self.height * (0.3 + 0.4 * (step % 2)))
        cv2.circle(frame, (x, y), max(8, self.height // 12), (40, 200, 255), -1)
        return f"{name}#{step}", frame

    def frames(self, stop: threading.Event) -> Frames:
        index = 0
        while not stop.is_set():
            yield self.frame(index)
            index += 1

    def close(self) -> None:
        pass


def build_frame_source(raw: Any, state_dir: Path) -> FolderSource | CaptureSource | DemoSource:
    where = "Source"
    if not isinstance(raw, dict):
        raise ComponentConfigError(f"{where} must be an object")
    kind = raw.get("type")
    if kind == "folder":
        folder = Path(text(raw, "path", None, where))
        if not folder.is_dir():
            raise ComponentConfigError(f"{where}.path {str(folder)!r} is not a folder")
        try:
            return FolderSource(folder, state_dir / "image_analyzer_seen.sqlite3")
        except sqlite3.Error as exc:
            raise ComponentConfigError(f"cannot keep the folder's state in {state_dir}: {exc}") from exc
    if kind == "capture":
        return CaptureSource(text(raw, "url", None, where))
    if kind == "demo":
        photos = raw.get("photos", list(DEMO_PHOTOS))
        if not isinstance(photos, list) or not all(isinstance(p, str) for p in photos):
            raise ComponentConfigError(f"{where}.photos must be a list of names")
        return DemoSource(
            photos,
            int(number(raw, "width", 640, where, minimum=32)),
            int(number(raw, "height", 480, where, minimum=32)),
            int(number(raw, "framesPerPhoto", 20, where, minimum=1)),
        )
    raise ComponentConfigError(f"{where}.type must be folder, capture or demo, got {kind!r}")
