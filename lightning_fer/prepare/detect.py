"""Haar-cascade face detection (the paper's section 2.3), on a downscaled copy of the frame.

The one detector of the project: the face tracker (prepare/tracker.py) of the crop pass and of inference, and
the synthetic data's detection check (synth/detect.py) all use :class:`HaarFaceDetector` with
:class:`PrepareParams`, so a face found in one is found in the others with the same box.

The stock ``haarcascade_frontalface_default.xml`` is used as the paper did. Detecting on a frame
whose longest side is ~320 px finds the same faces as full resolution for faces that fill a fair
part of the frame (children in front of a screen) at a fraction of the cost; boxes are returned
in the coordinates of the frame that was given.

:meth:`HaarFaceDetector.detect_near` is the tracked search: only a region around a known face, only
face sizes within ``scale_factor ** track_span`` of it, on a copy downscaled so that the face is about
``track_face_px`` wide (by a power of ``scale_factor``, so box sizes stay on the full-resolution
pyramid's grid). Haar's cost lies in the many windows of the small scales; this skips all of them.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from lightning_fer.prepare.params import PrepareParams


class Box(NamedTuple):
    """A face box in frame pixels: top-left corner, width, height."""

    x: int
    y: int
    w: int
    h: int


def cascade_path(name: str) -> Path:
    """Resolve a cascade file name (in OpenCV's data folder) or path; error if OpenCV lacks it."""
    path = Path(name)
    if not path.is_file():
        path = Path(cv2.data.haarcascades) / name
    if not path.is_file():
        raise FileNotFoundError(f"Haar cascade {name!r} not found (OpenCV {cv2.__version__}; needs opencv<5)")
    return path


@lru_cache(maxsize=8)
def load_cascade(path: str) -> cv2.CascadeClassifier:
    """The loaded cascade of a resolved path, parsed once per process (every detector shares it)."""
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load Haar cascade {path}")
    return cascade


class HaarFaceDetector:
    """Frontal faces per frame with OpenCV's Haar cascade, as the crop pass, inference and synth checks see them."""

    def __init__(self, params: PrepareParams | None = None) -> None:
        self.params = params or PrepareParams()
        self._cascade = load_cascade(str(cascade_path(self.params.cascade)))

    def detect(self, frame_rgb: np.ndarray) -> Box | None:
        """The largest face in an RGB (or gray) uint8 frame, or None."""
        gray = frame_rgb if frame_rgb.ndim == 2 else cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
        return self.detect_gray(gray)

    def detect_gray(self, gray: np.ndarray) -> Box | None:
        """As :meth:`detect` for a gray frame (downscaled here when ``detect_max_side`` asks)."""
        faces = self.detect_all_gray(gray)
        return faces[0] if faces else None

    def detect_all_gray(self, gray: np.ndarray, min_side: float = 0) -> list[Box]:
        """Every face in a gray frame, largest first (ties keep the cascade's order), in frame pixels.

        ``min_side`` raises ``min_size`` (the tracker's periodic whole-frame look for a larger face).
        """
        p = self.params
        height, width = gray.shape[:2]
        scale = 1.0
        if p.detect_max_side and max(height, width) > p.detect_max_side:
            scale = p.detect_max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        min_px = max(1, round(max(p.min_size, min_side) * scale))
        faces = self._cascade.detectMultiScale(gray, scaleFactor=p.scale_factor, minNeighbors=p.min_neighbors,
                                               minSize=(min_px, min_px))
        return _in_frame(faces, 0, 0, scale, scale)

    def detect_near(self, gray: np.ndarray, box: tuple | np.ndarray) -> list[Box]:
        """Faces of about ``box``'s size in a region around it, largest first, in frame pixels."""
        p = self.params
        x, y, w, h = (float(v) for v in box)
        side = max(w, h)
        pad = p.track_pad * side
        height, width = gray.shape[:2]
        x0, y0 = max(0, math.floor(x - pad)), max(0, math.floor(y - pad))
        x1, y1 = min(width, math.ceil(x + w + pad)), min(height, math.ceil(y + h + pad))
        steps = max(0, round(math.log(side / p.track_face_px, p.scale_factor))) if side > p.track_face_px else 0
        scale = p.scale_factor ** -steps
        region = gray[y0:y1, x0:x1]
        size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        if steps:
            region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        reach = p.scale_factor ** p.track_span
        low = max(p.min_size * scale, side * scale / reach)
        high = side * scale * reach
        if min(region.shape[:2]) < max(low, 1):
            return []
        faces = self._cascade.detectMultiScale(region, scaleFactor=p.scale_factor, minNeighbors=p.min_neighbors,
                                               minSize=(math.floor(low),) * 2, maxSize=(math.ceil(high),) * 2)
        return _in_frame(faces, x0, y0, size[0] / (x1 - x0), size[1] / (y1 - y0))


def _in_frame(faces, x0: int, y0: int, sx: float, sy: float) -> list[Box]:
    """Cascade hits in a scaled region -> boxes in frame pixels, largest first (stable)."""
    return [Box(round(x0 + x / sx), round(y0 + y / sy), round(w / sx), round(h / sy))
            for x, y, w, h in sorted(faces, key=lambda f: -int(f[2]) * int(f[3]))]


@lru_cache(maxsize=4)
def detector_for(params: PrepareParams) -> HaarFaceDetector:
    """One detector per parameter set and process (the crop pass's and synth's workers reuse it)."""
    return HaarFaceDetector(params)


def iou(a: np.ndarray | tuple, b: np.ndarray | tuple) -> float:
    """Intersection over union of two x, y, w, h boxes."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
