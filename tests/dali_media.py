"""Helpers for the DALI tests: real face crops, VP9 face clips, an exact YUV->RGB decode, loader runs."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch

from lightning_fer.prepare import HaarFaceDetector, crop_face
from lightning_fer.video_io import iter_frames, write_video


def face_crops(video: Path, every: int = 8, limit: int = 400) -> np.ndarray:
    """112 x 112 RGB face crops (Haar + crop_face, as `fer prepare` makes them) of every k-th frame."""
    detector = HaarFaceDetector()
    crops = []
    for frame in islice(iter_frames(video), 0, limit, every):
        box = detector.detect(frame)
        if box is not None:
            crops.append(crop_face(frame, box))
    return np.stack(crops)


def face_clip(video: Path, out: Path, every: int = 4, limit: int = 240) -> Path:
    """A VP9 face clip (the crop pass's output format) of real crops from ``video``."""
    write_video(out, face_crops(video, every, limit), fps=25)
    return out


def decode_bt601(path: str | Path) -> np.ndarray:
    """RGB frames by BT.601 limited range with bilinear chroma upsampling, computed from PyAV's yuv420p planes.

    This is the conversion DALI's CPU video decoder applies (measured: within one level on every
    channel); PyAV's ``rgb24`` (swscale's unscaled fast path) is ~1.3 levels darker on average.
    """
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            planes = frame.to_ndarray(format="yuv420p")
            frames.append(_yuv420_to_rgb(planes, frame.height, frame.width))
    return np.stack(frames)


def _yuv420_to_rgb(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    y = planes[:height].astype(np.float32)
    chroma = planes[height:].reshape(2, height // 2, width // 2).astype(np.float32)
    u, v = (cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) - 128.0 for c in chroma)
    luma = (y - 16.0) * (255.0 / 219.0)
    rgb = np.stack([luma + 1.596027 * v, luma - 0.391762 * u - 0.812968 * v, luma + 2.017232 * u], axis=-1)
    return np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8)


def collect(loader) -> tuple[np.ndarray, np.ndarray]:
    """All (frames, labels) of one pass over a loader, concatenated."""
    frames, labels = [], []
    for batch_frames, batch_labels in loader:
        frames.append(batch_frames.numpy().copy())
        labels.append(batch_labels.numpy().copy())
    return np.concatenate(frames), np.concatenate(labels)


def batches(loader) -> list[tuple[torch.Size, torch.dtype, torch.Size, torch.dtype]]:
    """Shapes and dtypes of each batch of one pass."""
    return [(f.shape, f.dtype, y.shape, y.dtype) for f, y in loader]
