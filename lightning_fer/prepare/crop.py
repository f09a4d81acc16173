"""Crop a face box to a square with a margin and resize it to the model's 112 x 112.

Squaring keeps the face's aspect ratio; where the square runs past the frame edge the edge
pixels are repeated (no black bars that would skew histogram equalization later).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def square_box(box: Sequence[float], margin: float = 0.2) -> tuple[int, int, int]:
    """x0, y0, side of the square around a box's center, ``margin`` x side added on each side."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    side_px = max(1, round(side))
    return round(cx - side_px / 2.0), round(cy - side_px / 2.0), side_px


def crop_face(frame_rgb: np.ndarray, box: Sequence[float], size: int = 112, margin: float = 0.2) -> np.ndarray:
    """The squared, margined face box of a frame, resized to ``size`` x ``size`` (edges replicated)."""
    x0, y0, side = square_box(box, margin)
    height, width = frame_rgb.shape[:2]
    inside = min(x0, y0) >= 0 and y0 + side <= height and x0 + side <= width
    if inside:
        patch = frame_rgb[y0:y0 + side, x0:x0 + side]  # common case: a view, no copy
    else:
        rows = np.clip(np.arange(y0, y0 + side), 0, height - 1)
        cols = np.clip(np.arange(x0, x0 + side), 0, width - 1)
        patch = frame_rgb[rows][:, cols]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interpolation)
