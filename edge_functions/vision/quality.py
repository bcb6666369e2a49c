"""Sharpness (variance of the Laplacian: a sharp image has strong edges, a blurred one hardly any) and
brightness (mean luma, 0-255)."""

from __future__ import annotations

import cv2

from .frames import Image


def blur_score(gray: Image) -> float:
    """Higher is sharper; below about 100 a photograph usually looks soft."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def brightness(gray: Image) -> float:
    return float(gray.mean())
