"""Haar-cascade face detection (the paper's section 2.3), on a downscaled copy of the frame.

The one detector of the project: the crop pass (prepare/track.py), inference (predict/faces.py) and
the synthetic data's detection check (synth/detect.py) all use :class:`HaarFaceDetector` with
:class:`PrepareParams`, so a face found in one is found in the others with the same box.

The stock ``haarcascade_frontalface_default.xml`` is used as the paper did. Detecting on a frame
whose longest side is ~320 px finds the same faces as full resolution for faces that fill a fair
part of the frame (children in front of a screen) at a fraction of the cost; boxes are returned
in the coordinates of the frame that was given.
"""

from __future__ import annotations

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

    def detect_all_gray(self, gray: np.ndarray) -> list[Box]:
        """Every face in a gray frame, largest first (ties keep the cascade's order), in frame pixels."""
        p = self.params
        height, width = gray.shape[:2]
        scale = 1.0
        if p.detect_max_side and max(height, width) > p.detect_max_side:
            scale = p.detect_max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        min_side = max(1, round(p.min_size * scale))
        faces = self._cascade.detectMultiScale(gray, scaleFactor=p.scale_factor, minNeighbors=p.min_neighbors,
                                               minSize=(min_side, min_side))
        inv = 1.0 / scale
        return [Box(round(x * inv), round(y * inv), round(w * inv), round(h * inv))
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
