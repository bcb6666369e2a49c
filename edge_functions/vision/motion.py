"""Motion between frames: frame differencing or MOG2 background subtraction on a downscaled grey frame.

The first frame has nothing to compare with and reports no motion. Boxes are the bounding rectangles
of changed regions larger than `min_area_share` of the frame, in frame coordinates; `share` is the
fraction of the frame that changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from .faces import Box
from .frames import Image


@dataclass(frozen=True)
class MotionSettings:
    method: Literal["diff", "mog2"] = "diff"
    threshold: int = 25  # grey-level change that counts, for "diff"
    min_area_share: float = 0.002
    work_width: int = 160


@dataclass(frozen=True)
class Motion:
    share: float
    boxes: list[Box] = field(default_factory=list)


class MotionDetector:
    def __init__(self, settings: MotionSettings = MotionSettings()) -> None:
        self.settings = settings
        self._previous: Image | None = None
        self._subtractor = (
            cv2.createBackgroundSubtractorMOG2(history=200, detectShadows=False)
            if settings.method == "mog2"
            else None
        )
        self._kernel = np.ones((3, 3), np.uint8)

    def update(self, gray: Image) -> Motion:
        s = self.settings
        scale = min(1.0, s.work_width / gray.shape[1]) if s.work_width else 1.0
        small = (
            cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        )
        small = cv2.GaussianBlur(small, (5, 5), 0)
        if self._subtractor is not None:
            mask = self._subtractor.apply(small)
            first = self._previous is None
            self._previous = small
            if first:
                return Motion(0.0)
        else:
            previous, self._previous = self._previous, small
            if previous is None or previous.shape != small.shape:
                return Motion(0.0)
            _, mask = cv2.threshold(cv2.absdiff(previous, small), s.threshold, 255, cv2.THRESH_BINARY)
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        share = float(np.count_nonzero(mask)) / mask.size
        if share == 0.0:
            return Motion(0.0)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = s.min_area_share * mask.size
        boxes: list[Box] = []
        for contour in contours:
            if cv2.contourArea(contour) >= min_area:
                x, y, w, h = cv2.boundingRect(contour)
                boxes.append((int(x / scale), int(y / scale), round(w / scale), round(h / scale)))
        return Motion(round(share, 4), boxes)
