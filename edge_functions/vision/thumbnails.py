"""Thumbnails: JPEG, longest side 160 px, face boxes (green) and motion boxes (red) drawn on."""

from __future__ import annotations

from collections.abc import Sequence

import cv2

from .faces import Box
from .frames import Image

LONGEST_SIDE = 160


def thumbnail(
    frame: Image,
    faces: Sequence[Box] = (),
    motion: Sequence[Box] = (),
    longest_side: int = LONGEST_SIDE,
    quality: int = 80,
    objects: Sequence[tuple[Box, str]] = (),
) -> bytes:
    """A small JPEG with the motion (red), face (green) and object (amber, with its label) boxes drawn."""
    scale = longest_side / max(frame.shape[:2])
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    for boxes, colour in ((motion, (0, 0, 255)), (faces, (0, 255, 0))):
        for x, y, w, h in boxes:
            top_left = (int(x * scale), int(y * scale))
            bottom_right = (int((x + w) * scale), int((y + h) * scale))
            cv2.rectangle(small, top_left, bottom_right, colour, 1)
    for (x, y, w, h), label in objects:
        top_left = (int(x * scale), int(y * scale))
        cv2.rectangle(small, top_left, (int((x + w) * scale), int((y + h) * scale)), (0, 191, 255), 1)
        cv2.putText(
            small, label, (top_left[0] + 2, top_left[1] + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 191, 255), 1
        )
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()
