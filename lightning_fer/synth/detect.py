"""Haar face-detection rate on sampled frames: the check that `fer prepare` will find the faces.

Uses the same stock cascade and parameters as the crop pass (PLATFORM.md) on decoded frames,
so codec artefacts count too. Sampling every few frames keeps it fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2

from lightning_fer.video_io import iter_frames

_CASCADE: cv2.CascadeClassifier | None = None


def _cascade() -> cv2.CascadeClassifier:
    global _CASCADE
    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return _CASCADE


def face_found(frame_rgb) -> bool:
    """Whether the stock cascade finds at least one face in an RGB frame."""
    gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    return len(_cascade().detectMultiScale(gray, 1.1, 5, minSize=(40, 40))) > 0


def count_detections(path: str | Path, every: int = 5) -> tuple[int, int]:
    """(frames with a face, frames sampled) over every `every`-th frame of one video."""
    hits = sampled = 0
    for i, frame in enumerate(iter_frames(path)):
        if i % every == 0:
            sampled += 1
            hits += face_found(frame)
    return hits, sampled


def detection_rate(paths: Iterable[str | Path], every: int = 5) -> float:
    """Fraction of sampled frames, over all videos, on which a face is found."""
    hits = sampled = 0
    for path in paths:
        h, s = count_detections(path, every)
        hits, sampled = hits + h, sampled + s
    return hits / sampled if sampled else 0.0
