"""Helpers for the DALI tests: real face crops, VP9 face clips, an exact YUV->RGB decode, loader runs."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import torch

from lightning_fer.prepare import HaarFaceDetector, PrepareParams, crop_face
from lightning_fer.video_io import iter_frames, write_video

PREPARED_CLIP_SIZE = PrepareParams().clip_size  # the side of the clips in the small_prepared fixture


def face_crops(video: Path, every: int = 8, limit: int = 400, size: int = 112) -> np.ndarray:
    """``size`` x ``size`` RGB face crops (Haar + crop_face, as `fer prepare` makes them: the face square fills
    the centre 112) of every k-th frame."""
    detector = HaarFaceDetector()
    crops = []
    for frame in islice(iter_frames(video), 0, limit, every):
        box = detector.detect(frame)
        if box is not None:
            crops.append(crop_face(frame, box, size, context=size / 112))
    return np.stack(crops)


def face_clip(video: Path, out: Path, every: int = 4, limit: int = 240, size: int = 112) -> Path:
    """A VP9 face clip (the crop pass's output format) of real crops from ``video``."""
    write_video(out, face_crops(video, every, limit, size), fps=25)
    return out


def collect(loader) -> tuple[np.ndarray, np.ndarray]:
    """All (frames, labels) of one pass over a loader, concatenated."""
    frames, labels = [], []
    for batch_frames, batch_labels in loader:
        frames.append(batch_frames.cpu().numpy().copy())
        labels.append(batch_labels.cpu().numpy().copy())
    return np.concatenate(frames), np.concatenate(labels)


def batches(loader) -> list[tuple[torch.Size, torch.dtype, torch.Size, torch.dtype]]:
    """Shapes and dtypes of each batch of one pass."""
    return [(f.shape, f.dtype, y.shape, y.dtype) for f, y in loader]
