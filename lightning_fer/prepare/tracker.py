"""The face tracker: per-frame face boxes with track ids on a stream of frames (crop pass and inference alike).

The naive loop runs Haar on the whole frame, every frame. This runs it on every ``detect_every``-th
frame (a keyframe) and, while a face is tracked, only near it (:meth:`HaarFaceDetector.detect_near`:
a region around the last box, sizes close to it). The whole frame is searched when a tracked face is
not found near its last box (lost), when nothing is tracked, and every ``redetect_every`` frames (with
one face tracked, only for faces at least about its size: the largest face is the one kept). Boxes of
faces that agree between two keyframes (IoU >= 0.5) are interpolated; where they disagree (a face
appears, leaves or jumps) every frame in between is detected, so face/no-face boundaries stay exact.
Then each track's boxes are averaged over ``smooth_window`` frames (centered). A frame is held back at
most ``detect_every + smooth_window // 2`` frames, so cameras work too. Track ids follow faces by IoU.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from lightning_fer.prepare.detect import HaarFaceDetector, iou
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.video_io import DecodedFrame

REFINE_IOU = 0.5  # two keyframe boxes overlapping less than this are not interpolated but re-detected
MATCH_IOU = 0.3  # a box continues a track if it overlaps the track's last box at least this much
MAX_GAP = 5  # frames a track may miss before its id is retired

Frame = np.ndarray | DecodedFrame


@dataclass
class FrameFaces:
    """One frame, its index, and its faces as track id -> x, y, w, h (float)."""

    index: int
    frame: Frame
    faces: dict[int, np.ndarray] = field(default_factory=dict)
    detected: bool = False  # Haar ran on this frame (rather than interpolation)
    raw: dict[int, np.ndarray] | None = None  # boxes before smoothing (set once smoothed)


def gray_of(frame: Frame) -> np.ndarray:
    """The gray image Haar sees: luma of a decoded frame, or the RGB (or gray) array converted."""
    if isinstance(frame, DecodedFrame):
        return frame.gray()
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


class FaceTracker:
    """Push frames in order, get :class:`FrameFaces` out in order (delayed); ``flush()`` at the end."""

    def __init__(self, detector: HaarFaceDetector, multi_face: bool = False,
                 params: PrepareParams | None = None) -> None:
        p = params or detector.params
        self.detector, self.multi_face = detector, multi_face
        self.every, self.half, self.redetect = p.detect_every, p.smooth_window // 2, p.redetect_every
        self.reach = p.scale_factor ** p.track_span
        self.count = 0
        self.full_searches = 0  # whole-frame detections (the rest were tracked searches or interpolation)
        self._last_full = -p.redetect_every
        self._pending: list[FrameFaces] = []  # frames after the last keyframe
        self._last_key: FrameFaces | None = None
        self._tracks: dict[int, tuple[np.ndarray, int]] = {}  # id -> last box, last frame index
        self._latest = -1  # index of the last frame whose faces are known
        self._next_id = 0
        self._window: deque[FrameFaces] = deque()  # raw boxes awaiting smoothing
        self._done = 0  # frames already emitted

    def push(self, frame: Frame) -> list[FrameFaces]:
        item = FrameFaces(self.count, frame)
        self.count += 1
        if item.index % self.every:
            self._pending.append(item)  # gray made only if this frame must be detected after all
            return []
        return self._smooth(self._resolve(item))

    def flush(self) -> list[FrameFaces]:
        out: list[FrameFaces] = []
        if self._pending:  # the last frame becomes a keyframe
            out = self._smooth(self._resolve(self._pending.pop()))
        return out + self._smooth([], final=True)

    def detect(self, gray: np.ndarray, index: int) -> list[np.ndarray]:
        """Faces of one frame, largest first (one face unless ``multi_face``): tracked search, else whole frame."""
        priors = [box for box, seen in self._tracks.values() if seen == self._latest]
        found: list[np.ndarray] = []
        lost = not priors
        for prior in priors:
            near = [np.asarray(b, np.float64) for b in self.detector.detect_near(gray, prior)]
            best = max(near, key=lambda b: iou(b, prior), default=None)
            if best is None or iou(best, prior) < MATCH_IOU:
                lost = True
                break
            found.append(best)
        if lost or index - self._last_full >= self.redetect:
            self._last_full, self.full_searches = index, self.full_searches + 1
            larger = 0.0 if lost or self.multi_face else max(max(b[2], b[3]) for b in found) / self.reach
            whole = [np.asarray(b, np.float64) for b in self.detector.detect_all_gray(gray, min_side=larger)]
            found = whole if lost else found + whole
        found.sort(key=lambda b: -b[2] * b[3])
        distinct: list[np.ndarray] = []
        for box in found:
            if all(iou(box, kept) < MATCH_IOU for kept in distinct):
                distinct.append(box)
        return distinct if self.multi_face else distinct[:1]

    def _resolve(self, key: FrameFaces) -> list[FrameFaces]:
        boxes = self.detect(gray_of(key.frame), key.index)
        key.detected = True
        pending, self._pending = self._pending, []
        last = self._last_key
        pairs = _one_to_one(list(last.faces.items()), boxes) if last is not None and last.faces and boxes else None
        if pairs is not None and pending:
            steps = np.arange(1, len(pending) + 1) / (len(pending) + 1)
            for item, step in zip(pending, steps, strict=True):
                item.faces = {tid: start + step * (end - start) for tid, start, end in pairs}
                self._touch(item)
            key.faces = {tid: end for tid, _, end in pairs}
        else:
            for item in pending:
                item.faces = self._assign(self.detect(gray_of(item.frame), item.index), item.index)
                item.detected = True
                self._touch(item)
            key.faces = self._assign(boxes, key.index)
        self._touch(key)
        self._last_key = key
        return [*pending, key]

    def _touch(self, item: FrameFaces) -> None:
        for tid, box in item.faces.items():
            self._tracks[tid] = (box, item.index)
        self._latest = item.index

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
