"""Frames in: bytes or files decoded to BGR arrays, or a clear `FrameError` saying why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[Any]  # what OpenCV returns: its stubs type arrays loosely
Frame = Image


class FrameError(ValueError):
    """A frame that cannot be analysed: not an image, truncated, empty, or of an unusable shape."""


def check_frame(frame: object, where: str) -> Frame:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise FrameError(f"{where}: not an 8-bit image array")
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FrameError(f"{where}: unusable image shape {frame.shape}")
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise FrameError(f"{where}: image of {frame.shape[1]}x{frame.shape[0]} is too small to analyse")
    return frame


def decode_image(data: bytes, where: str = "image") -> Frame:
    if not data:
        raise FrameError(f"{where}: no bytes")
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise FrameError(f"{where}: not a readable image ({len(data)} bytes)")
    return check_frame(decoded, where)


def load_image(path: Path) -> Frame:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FrameError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return decode_image(data, str(path))
