"""Crop a face box to a square with a margin (and context around it) and resize it to the clip's side.

The crop pass writes clips of ``clip_size`` (128) whose centre ``input_size`` (112) is the margined face
square: the square is widened by ``context = clip_size / input_size`` about its centre, so a centre crop of
112 keeps the framing a 112 clip had and the border is room for a random crop in training.
Squaring keeps the face's aspect ratio; where the square runs past the frame edge the edge
pixels are repeated (no black bars that would skew histogram equalization later). A frame still in
the decoder's yuv420p planes is cropped and resized plane by plane and converted to RGB at 112 x 112:
the affine YUV -> RGB conversion and the resize commute (up to rounding), and converting a face-sized
patch instead of the whole frame is what lets the crop pass run several hundred frames/s per core.
The crop pass goes one step further (:func:`crop_face_planes`): the encoder takes yuv420p, so the cropped
planes go to it as they are, with no RGB round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from dali_pipelines.reference import center_crop
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.video_io import DecodedFrame, yuv_to_rgb


def square_box(box: Sequence[float], margin: float = 0.2, context: float = 1.0) -> tuple[int, int, int]:
    """x0, y0, side of the square around a box's center, ``margin`` x side added on each side, then
    widened ``context`` times about the centre."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin) * context
    cx, cy = x + w / 2.0, y + h / 2.0
    side_px = max(1, round(side))
    return round(cx - side_px / 2.0), round(cy - side_px / 2.0), side_px


def crop_face(frame: np.ndarray | DecodedFrame, box: Sequence[float], size: int = 112,
              margin: float = 0.2, context: float = 1.0) -> np.ndarray:
    """The squared, margined (and ``context``-widened) face box of a frame, resized to ``size`` x ``size`` RGB
    (edges replicated)."""
    x0, y0, side = square_box(box, margin, context)
    if isinstance(frame, DecodedFrame):
        if frame.planes is None:
            return crop_face(frame.rgb(), box, size, margin, context)
        luma = _square(frame.planes[: frame.height], x0, y0, side, size)
        # Chroma bilinear: gray (what the model sees) does not depend on it, so its cheaper resize suffices.
        u, v = (_square(c, x0 // 2, y0 // 2, max(1, (side + 1) // 2), size, cv2.INTER_LINEAR) for c in frame.chroma())
        return yuv_to_rgb(luma.astype(np.float32), u.astype(np.float32), v.astype(np.float32))
    return _square(frame, x0, y0, side, size)


def model_input_face(frame: np.ndarray | DecodedFrame, box: Sequence[float], params: PrepareParams) -> np.ndarray:
    """The face as training's pipeline sees it (centre crop, no augmentation): cropped to a clip frame as the
    crop pass makes it, then its centre ``input_size`` window. `fer predict` uses this so that inference
    resizes and crops exactly as prepare + DALI do."""
    clip = crop_face(frame, box, params.clip_size, params.margin, params.context)
    return center_crop(clip, params.input_size)


def crop_face_planes(frame: DecodedFrame, box: Sequence[float], size: int = 112,
                     margin: float = 0.2, context: float = 1.0) -> np.ndarray | None:
    """The face of a yuv420p frame as yuv420p planes ((size * 3/2) x size, the layout PyAV encodes), or None
    when the frame is not in planes or ``size`` is not a multiple of 4 (chroma rows would not tile)."""
    if frame.planes is None or size % 4:
        return None
    x0, y0, side = square_box(box, margin, context)
    half = size // 2
    luma = _square(frame.planes[: frame.height], x0, y0, side, size)
    u, v = (_square(c, x0 // 2, y0 // 2, max(1, (side + 1) // 2), half, cv2.INTER_LINEAR) for c in frame.chroma())
    return np.concatenate([luma, u.reshape(half // 2, size), v.reshape(half // 2, size)])


def _square(image: np.ndarray, x0: int, y0: int, side: int, size: int, shrink: int = cv2.INTER_AREA) -> np.ndarray:
    """The ``side`` square at x0, y0 of an image (edge pixels repeated outside it), resized to ``size``."""
    height, width = image.shape[:2]
    top, left, bottom, right = max(0, y0), max(0, x0), min(height, y0 + side), min(width, x0 + side)
    if top == y0 and left == x0 and bottom == y0 + side and right == x0 + side:
        patch = image[y0:y0 + side, x0:x0 + side]  # common case: a view, no copy
    elif bottom > top and right > left:  # partly outside: repeat the edge rows and columns
        patch = cv2.copyMakeBorder(image[top:bottom, left:right], top - y0, y0 + side - bottom, left - x0,
                                   x0 + side - right, cv2.BORDER_REPLICATE)
    else:
        rows = np.clip(np.arange(y0, y0 + side), 0, height - 1)
        cols = np.clip(np.arange(x0, x0 + side), 0, width - 1)
        patch = image[rows][:, cols]
    interpolation = shrink if side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interpolation)
