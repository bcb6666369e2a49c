"""Frontal faces with OpenCV's Haar cascade from `cv2.data` (why `opencv-python-headless<5`: 5.x no
longer ships it). The frame is scaled down to `work_width` first: detection cost grows with the pixel
count, and a face big enough to matter survives the downscale. Boxes come back in frame coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2

from .frames import Image

CASCADE = "haarcascade_frontalface_default.xml"

Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class FaceSettings:
    scale_factor: float = 1.15
    min_neighbors: int = 5
    min_size: int = 24  # pixels, in the downscaled frame
    work_width: int = 320  # 0: detect at full size


class FaceDetector:
    def __init__(self, settings: FaceSettings = FaceSettings()) -> None:
        self.settings = settings
        path = Path(cv2.data.haarcascades) / CASCADE  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"the Haar cascade {path} is missing: install opencv-python-headless<5")

    def detect(self, gray: Image) -> list[Box]:
        s = self.settings
        scale = 1.0
        if s.work_width and gray.shape[1] > s.work_width:
            scale = s.work_width / gray.shape[1]
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=s.scale_factor, minNeighbors=s.min_neighbors, minSize=(s.min_size, s.min_size)
        )
        return [tuple(round(v / scale) for v in box) for box in found]  # type: ignore[misc]
