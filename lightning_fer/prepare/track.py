"""Per-frame face boxes of a whole video: the tracker's boxes as arrays, and the no-face policy.

The naive loop runs Haar at full resolution on every frame (``naive_boxes``). ``track_boxes`` pushes
the frames through :class:`~lightning_fer.prepare.tracker.FaceTracker` (the same tracker `fer predict`
streams with) keeping the largest face, then applies the no-face policy. Boxes are arrays of x, y, w, h
floats with NaN rows for "no face".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from lightning_fer.prepare.detect import HaarFaceDetector
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.prepare.tracker import FaceTracker, Frame, FrameFaces


@dataclass
class Track:
    """Final per-frame boxes and where each came from."""

    boxes: np.ndarray  # N x 4 float, NaN where the frame is dropped
    found: np.ndarray  # N bool: a face was detected or interpolated on this frame
    reused: np.ndarray  # N bool: the box was reused from an earlier frame (no-face policy)

    @property
    def kept(self) -> np.ndarray:
        return ~np.isnan(self.boxes[:, 0])


def _as_row(box) -> np.ndarray:
    return np.full(4, np.nan) if box is None else np.asarray(box, dtype=np.float64)


def naive_boxes(frames: Iterable[np.ndarray], detector: HaarFaceDetector) -> np.ndarray:
    """Raw per-frame boxes from running the detector on every frame (as configured)."""
    return np.array([_as_row(detector.detect(frame)) for frame in frames]).reshape(-1, 4)


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
    rows = [(box, reused) for _, box, _, reused in no_face_policy(
        ((None, row, False) for row in boxes), policy, reuse_max)]
    out = np.array([box for box, _ in rows]).reshape(-1, 4)
    return out, np.array([reused for _, reused in rows], dtype=bool)


def no_face_policy(rows: Iterable[tuple[Frame, np.ndarray, bool]], policy: str,
                   reuse_max: int) -> Iterator[tuple[Frame, np.ndarray, bool, bool]]:
    """Streamed (frame, box, found) -> (frame, box, found, reused): ``reuse`` fills short gaps with the last box."""
    last, since = None, 0
    for frame, box, found in rows:
        if not np.isnan(box[0]):
            last, since = box, 0
            yield frame, box, found, False
        elif policy == "reuse" and last is not None and since < reuse_max:
            since += 1
            yield frame, last.copy(), found, True
        else:
            yield frame, box, found, False


def tracked(frames: Iterable[Frame], detector: HaarFaceDetector,
            params: PrepareParams | None = None) -> Iterator[tuple[Frame, np.ndarray, bool]]:
    """Stream (frame, smoothed box or NaN row, face detected or interpolated) in order, largest face only."""
    tracker = FaceTracker(detector, multi_face=False, params=params)
    for frame in frames:
        yield from _rows(tracker.push(frame))
    yield from _rows(tracker.flush())


def _rows(items: list[FrameFaces]) -> Iterator[tuple[Frame, np.ndarray, bool]]:
    for item in items:
        box = next(iter(item.faces.values()), None)
        yield item.frame, _as_row(box), box is not None


def track_boxes(frames: Iterable[Frame], detector: HaarFaceDetector, params: PrepareParams | None = None) -> Track:
    """The tracker end to end on a whole video: boxes of the largest face, then the no-face policy."""
    p = params or detector.params
    rows = [(box, found) for _, box, found in tracked(frames, detector, p)]
    raw = np.array([box for box, _ in rows]).reshape(-1, 4)
    found = np.array([f for _, f in rows], dtype=bool)
    boxes, reused = apply_no_face_policy(raw, p.no_face, p.reuse_max)
    return Track(boxes=boxes, found=found, reused=reused)
