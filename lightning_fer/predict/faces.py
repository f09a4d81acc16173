"""Face boxes with track ids on a stream of frames, detected as the crop pass does, one frame at a time.

The crop pass (prepare/track.py) works on a whole video; inference must also serve cameras, so this
is its streaming twin: Haar (same parameters) on every ``detect_every``-th frame, boxes of faces that
agree between two keyframes (IoU >= 0.5) interpolated, every frame in between re-detected otherwise,
then a centered moving average of each track's boxes over ``smooth_window`` frames. A frame is held
back at most ``detect_every + smooth_window // 2`` frames. Track ids follow faces by IoU.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from lightning_fer.prepare.detect import HaarFaceDetector, iou
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.prepare.track import REFINE_IOU

MATCH_IOU = 0.3  # a box continues a track if it overlaps the track's last box at least this much
MAX_GAP = 5  # frames a track may miss before its id is retired

DetectFn = Callable[[np.ndarray], list[np.ndarray]]


@dataclass
class FrameFaces:
    """One frame, its index, and its faces as track id -> x, y, w, h (float)."""

    index: int
    frame: np.ndarray
    faces: dict[int, np.ndarray] = field(default_factory=dict)
    detected: bool = False  # Haar ran on this frame (rather than interpolation)
    raw: dict[int, np.ndarray] | None = None  # boxes before smoothing (set once smoothed)


def make_detect_fn(params: PrepareParams, multi_face: bool) -> DetectFn:
    """Gray frame -> list of boxes: every face (largest first), or the largest only, as the crop pass finds them."""
    detector = HaarFaceDetector(params)

    def detect(gray: np.ndarray) -> list[np.ndarray]:
        boxes = detector.detect_all_gray(gray)
        return [np.asarray(box, dtype=np.float64) for box in (boxes if multi_face else boxes[:1])]

    return detect


class FaceTracker:
    """Push frames in order, get :class:`FrameFaces` out in order (delayed); ``flush()`` at the end."""

    def __init__(self, detect: DetectFn, detect_every: int = 3, smooth_window: int = 5) -> None:
        self.detect, self.every, self.half = detect, max(1, detect_every), max(0, smooth_window // 2)
        self.count = 0
        self._pending: list[tuple[FrameFaces, np.ndarray]] = []  # frames after the last keyframe, with gray
        self._last_key: FrameFaces | None = None
        self._tracks: dict[int, tuple[np.ndarray, int]] = {}  # id -> last box, last frame index
        self._next_id = 0
        self._window: deque[FrameFaces] = deque()  # raw boxes awaiting smoothing
        self._done = 0  # frames already emitted

    def push(self, frame: np.ndarray) -> list[FrameFaces]:
        item = FrameFaces(self.count, frame)
        self.count += 1
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if item.index % self.every:
            self._pending.append((item, gray))
            return []
        return self._smooth(self._resolve(item, gray))

    def flush(self) -> list[FrameFaces]:
        out: list[FrameFaces] = []
        if self._pending:  # the last frame becomes a keyframe, as in the crop pass
            item, gray = self._pending.pop()
            out = self._smooth(self._resolve(item, gray))
        return out + self._smooth([], final=True)

    def _resolve(self, key: FrameFaces, gray: np.ndarray) -> list[FrameFaces]:
        boxes = self.detect(gray)
        key.detected = True
        pending, self._pending = self._pending, []
        last = self._last_key
        pairs = _one_to_one(list(last.faces.items()), boxes) if last is not None and last.faces and boxes else None
        if pairs is not None and pending:
            steps = np.arange(1, len(pending) + 1) / (len(pending) + 1)
            for (item, _), step in zip(pending, steps, strict=True):
                item.faces = {tid: start + step * (end - start) for tid, start, end in pairs}
                self._touch(item)
            key.faces = {tid: end for tid, _, end in pairs}
        else:
            for item, pending_gray in pending:
                item.faces = self._assign(self.detect(pending_gray), item.index)
                item.detected = True
                self._touch(item)
            key.faces = self._assign(boxes, key.index)
        self._touch(key)
        self._last_key = key
        return [item for item, _ in pending] + [key]

    def _touch(self, item: FrameFaces) -> None:
        for tid, box in item.faces.items():
            self._tracks[tid] = (box, item.index)

    def _assign(self, boxes: list[np.ndarray], index: int) -> dict[int, np.ndarray]:
        """Give each box the id of the best-overlapping live track, or a new id."""
        live = {t: b for t, (b, seen) in self._tracks.items() if index - seen <= MAX_GAP}
        candidates = sorted(((iou(b, tb), i, t) for i, b in enumerate(boxes) for t, tb in live.items()), reverse=True)
        ids: dict[int, int] = {}
        for overlap, i, t in candidates:
            if overlap < MATCH_IOU:
                break
            if i not in ids and t not in ids.values():
                ids[i] = t
        out = {}
        for i, box in enumerate(boxes):
            if i not in ids:
                ids[i], self._next_id = self._next_id, self._next_id + 1
            out[ids[i]] = box
        return out

    def _smooth(self, items: list[FrameFaces], final: bool = False) -> list[FrameFaces]:
        self._window.extend(items)
        out = []
        while self._window:
            newest = self._window[-1].index
            target = self._done
            if target > newest or (not final and newest < target + self.half):
                break
            position = target - self._window[0].index
            item = self._window[position]
            item.raw = dict(item.faces)
            item.faces = {tid: self._average(tid, position, box) for tid, box in item.raw.items()}
            out.append(item)
            self._done += 1
            while self._window and self._window[0].index < self._done - self.half:
                self._window.popleft()
        return out

    def _average(self, tid: int, position: int, own: np.ndarray) -> np.ndarray:
        if self.half == 0:
            return own
        total, count = own.copy(), 1
        for direction in (-1, 1):
            for step in range(1, self.half + 1):
                j = position + direction * step
                if not 0 <= j < len(self._window):
                    break
                faces = self._window[j].raw if direction < 0 else self._window[j].faces
                if faces is None or tid not in faces:
                    break
                total += faces[tid]
                count += 1
        return total / count


def _one_to_one(previous: list[tuple[int, np.ndarray]], boxes: list[np.ndarray]):
    """(id, start, end) for every face when the two keyframes' faces pair up with IoU >= 0.5, else None."""
    if len(previous) != len(boxes):
        return None
    pairs, used = [], set()
    for tid, start in previous:
        best = max((i for i in range(len(boxes)) if i not in used), key=lambda i: iou(start, boxes[i]))
        if iou(start, boxes[best]) < REFINE_IOU:
            return None
        used.add(best)
        pairs.append((tid, start, boxes[best]))
    return pairs
