"""Dominant colours, named: each pixel of a small copy of the frame gets a colour name from its HSV
value (greys by saturation and value, hues by range), and the names are ranked by their share.
Named bins rather than k-means: the names are what labels and the tag cloud need, and the result does
not depend on a random start."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from .frames import Image

# OpenCV hue runs 0-179. Upper bounds of each hue band, in order.
_HUES = [
    (8, "red"),
    (20, "orange"),
    (33, "yellow"),
    (78, "green"),
    (96, "cyan"),
    (130, "blue"),
    (150, "purple"),
    (170, "pink"),
    (180, "red"),
]
_NAMES = ["black", "white", "grey", "brown", *sorted({name for _, name in _HUES})]


def _name_indices(hsv: Image) -> NDArray[np.intp]:
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    names = np.full(h.shape, _NAMES.index("grey"), dtype=np.intp)
    lower = 0
    for upper, name in _HUES:
        names[(h >= lower) & (h < upper)] = _NAMES.index(name)
        lower = upper
    brownish = (h < 25) & (v < 150) & (s >= 60)
    names[brownish] = _NAMES.index("brown")
    names[s < 50] = _NAMES.index("grey")
    names[(s < 40) & (v > 200)] = _NAMES.index("white")
    names[v < 45] = _NAMES.index("black")
    return names


def dominant_colours(frame: Image, top: int = 3) -> list[dict[str, float | str]]:
    small = cv2.resize(frame, (64, 48), interpolation=cv2.INTER_AREA)
    counts = np.bincount(_name_indices(cv2.cvtColor(small, cv2.COLOR_BGR2HSV)).ravel(), minlength=len(_NAMES))
    total = counts.sum()
    ranked = sorted(range(len(_NAMES)), key=lambda i: -counts[i])[:top]
    return [{"name": _NAMES[i], "share": round(float(counts[i] / total), 3)} for i in ranked if counts[i]]
