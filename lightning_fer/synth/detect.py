"""Haar face-detection rate on sampled frames: the check that `fer prepare` will find the faces.

Uses the crop pass's own detector and parameters (:class:`PrepareParams`, defaults unless given) on
decoded frames, so codec artefacts count too. Sampling every few frames keeps it fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lightning_fer.prepare.detect import detector_for
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.video_io import iter_frames


def face_found(frame_rgb: np.ndarray, params: PrepareParams | None = None) -> bool:
    """Whether the crop pass's detector finds a face in an RGB frame."""
    return detector_for(params or PrepareParams()).detect(frame_rgb) is not None


def count_detections(path: str | Path, every: int = 5, params: PrepareParams | None = None) -> tuple[int, int]:
    """(frames with a face, frames sampled) over every `every`-th frame of one video."""
    hits = sampled = 0
    for i, frame in enumerate(iter_frames(path)):
        if i % every == 0:
            sampled += 1
            hits += face_found(frame, params)
    return hits, sampled


def detection_rate(paths: Iterable[str | Path], every: int = 5, params: PrepareParams | None = None) -> float:
    """Fraction of sampled frames, over all videos, on which a face is found."""
    hits = sampled = 0
    for path in paths:
        h, s = count_detections(path, every, params)
        hits, sampled = hits + h, sampled + s
    return hits / sampled if sampled else 0.0
