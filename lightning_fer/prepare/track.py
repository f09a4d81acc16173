"""Per-frame face boxes of a video: detect every k-th frame, interpolate between, smooth, fill gaps.

The naive loop runs Haar at full resolution on every frame (``naive_boxes``). ``track_boxes``
runs it on a downscaled frame every ``detect_every`` frames and interpolates linearly between two
detections that agree; where they disagree or one is missing (a face appears, leaves or jumps),
it detects on every frame in between, so face/no-face boundaries stay exact. Boxes are arrays of
x, y, w, h floats with NaN rows for "no face".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from lightning_fer.prepare.detect import HaarFaceDetector, iou
from lightning_fer.prepare.params import PrepareParams

REFINE_IOU = 0.5  # two keyframe boxes overlapping less than this are not interpolated but re-detected


@dataclass
class Track:
    """Final per-frame boxes and where each came from."""

    boxes: np.ndarray  # N x 4 float, NaN where the frame is dropped
    found: np.ndarray  # N bool: a face was detected or interpolated on this frame
    reused: np.ndarray  # N bool: the box was reused from an earlier frame (no-face policy)

    @property
    def kept(self) -> np.ndarray:
        return ~np.isnan(self.boxes[:, 0])


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _as_row(box) -> np.ndarray:
    return np.full(4, np.nan) if box is None else np.asarray(box, dtype=np.float64)


def naive_boxes(frames: Iterable[np.ndarray], detector: HaarFaceDetector) -> np.ndarray:
    """Raw per-frame boxes from running the detector on every frame (as configured)."""
    return np.array([_as_row(detector.detect(frame)) for frame in frames]).reshape(-1, 4)


def detect_sparse(frames: Iterable[np.ndarray], detector: HaarFaceDetector, every: int) -> np.ndarray:
    """Raw boxes from detecting every ``every``-th frame (and the last) with interpolation between."""
    rows: list[np.ndarray] = []
    pending: list[np.ndarray] = []  # frames after the last keyframe (converted to gray only if re-detected)
    last_key: np.ndarray | None = None
    for index, frame in enumerate(frames):
        if index % every:
            pending.append(frame)
            continue
        key = _as_row(detector.detect_gray(_gray(frame)))
        if last_key is not None:
            rows.extend(_fill(pending, last_key, key, detector))
        rows.append(key)
        pending, last_key = [], key
    if pending:  # the tail: the last frame becomes a keyframe
        key = _as_row(detector.detect_gray(_gray(pending.pop())))
        rows.extend(_fill(pending, last_key, key, detector))
        rows.append(key)
    return np.array(rows).reshape(-1, 4)


def _fill(frames: list[np.ndarray], start: np.ndarray, end: np.ndarray, detector: HaarFaceDetector) -> list:
    if not frames:
        return []
    both = not (np.isnan(start[0]) or np.isnan(end[0]))
    if both and iou(start, end) >= REFINE_IOU:
        steps = np.arange(1, len(frames) + 1) / (len(frames) + 1)
        return list(start + steps[:, None] * (end - start))
    return [_as_row(detector.detect_gray(_gray(frame))) for frame in frames]


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average of boxes within each run of consecutive frames that have one."""
    out = boxes.copy()
    half = window // 2
    if half == 0:
        return out
    present = ~np.isnan(boxes[:, 0])
    index = 0
    while index < len(boxes):
        if not present[index]:
            index += 1
            continue
        end = index
        while end < len(boxes) and present[end]:
            end += 1
        run = boxes[index:end]
        csum = np.vstack([np.zeros((1, 4)), np.cumsum(run, axis=0)])
        lo = np.clip(np.arange(len(run)) - half, 0, len(run))
        hi = np.clip(np.arange(len(run)) + half + 1, 0, len(run))
        out[index:end] = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
        index = end
    return out


def apply_no_face_policy(boxes: np.ndarray, policy: str, reuse_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill up to ``reuse_max`` frames after a face with its last box (``reuse``); returns boxes, reused."""
    out = boxes.copy()
    reused = np.zeros(len(boxes), dtype=bool)
    if policy != "reuse" or reuse_max == 0:
        return out, reused
    last, since = None, 0
    for index, row in enumerate(boxes):
        if not np.isnan(row[0]):
            last, since = row, 0
        elif last is not None and since < reuse_max:
            out[index], reused[index] = last, True
            since += 1
    return out, reused


def track_boxes(frames: Iterable[np.ndarray], detector: HaarFaceDetector, params: PrepareParams | None = None) -> Track:
    """The fast path end to end: sparse detection, smoothing, no-face policy."""
    p = params or detector.params
    raw = detect_sparse(frames, detector, p.detect_every)
    found = ~np.isnan(raw[:, 0])
    smoothed = smooth_boxes(raw, p.smooth_window)
    boxes, reused = apply_no_face_policy(smoothed, p.no_face, p.reuse_max)
    return Track(boxes=boxes, found=found, reused=reused)
