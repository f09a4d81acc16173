"""The predict loop: decode -> face tracker (the crop pass's) -> crop -> reference preprocessing -> batched model.

Faces are collected until a batch is full, so the model runs on ``batch_size`` crops at a time (the
cost per face drops several-fold against one call per frame); preprocessing is
:func:`dali_pipelines.reference.preprocess`, the parity-tested twin of the training pipeline. The
model (~1 GFLOP per face) is the cost that remains once the tracker has made detection cheap, and an
expression lasts many frames: each tracked face is classified on every ``classify_every``-th frame
(and on its first), the frames between keep its last probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dali_pipelines.reference import preprocess
from lightning_fer.checkpoint_record import ModelSpec
from lightning_fer.predict.engine import Engine, softmax
from lightning_fer.predict.results import FaceRow, smooth_labels, summarize
from lightning_fer.predict.sources import Source
from lightning_fer.prepare.crop import model_input_face
from lightning_fer.prepare.detect import detector_for
from lightning_fer.prepare.tracker import FaceTracker, FrameFaces


@dataclass(frozen=True)
class PredictOptions:
    multi_face: bool = False
    batch_size: int = 32
    smooth_window: int = 5  # frames in the centered label-smoothing window (1: off)
    classify_every: int = 3  # run the model on a tracked face every k-th frame, keep its probabilities between
    max_frames: int = 0  # stop after this many frames (0: all)
    progress: bool = True


@dataclass
class SourceResult:
    source: Source
    rows: list[FaceRow]
    summary: dict
    frames: int
    fps: float


class _Batcher:
    """Holds frames' faces until ``batch_size`` crops are waiting, then classifies them in one call."""

    def __init__(self, engine: Engine, spec: ModelSpec, batch_size: int, fps: float, every: int = 1) -> None:
        self.engine, self.spec, self.batch_size, self.fps, self.every = engine, spec, max(1, batch_size), fps, every
        self.waiting: list[tuple[FrameFaces, set[int]]] = []  # frames and the track ids classified on them
        self.crops: list[np.ndarray] = []
        self.rows: list[FaceRow] = []
        self._classified_at: dict[int, int] = {}  # track id -> frame index it was last classified on
        self._probs: dict[int, np.ndarray] = {}  # track id -> its last probabilities

    def add(self, items: list[FrameFaces]) -> None:
        p = self.spec.params
        for item in items:
            due = {tid for tid in item.faces if item.index - self._classified_at.get(tid, -self.every) >= self.every}
            self._classified_at.update(dict.fromkeys(due, item.index))
            self.waiting.append((item, due))
            self.crops.extend(model_input_face(item.frame, box, p) for tid, box in sorted(item.faces.items())
                              if tid in due)
            if len(self.crops) >= self.batch_size:
                self.run()

    def run(self) -> None:
        probs = np.zeros((0, len(self.spec.classes)), np.float32)
        if self.crops:
            probs = softmax(self.engine.logits(preprocess(np.stack(self.crops), self.spec.normalization)))
        k = 0
        for item, due in self.waiting:
            time = item.index / self.fps if self.fps else 0.0
            if not item.faces:
                self.rows.append(FaceRow(item.index, time))
            for tid, box in sorted(item.faces.items()):
                if tid in due:
                    self._probs[tid], k = probs[k], k + 1
                label = self.spec.classes[int(np.argmax(self._probs[tid]))]
                self.rows.append(FaceRow(item.index, time, tid, tuple(float(v) for v in box), self._probs[tid], label))
        self.waiting, self.crops = [], []


def predict_source(source: Source, engine: Engine, spec: ModelSpec, options: PredictOptions) -> SourceResult:
    """Rows (one per face per frame, or "no face"), smoothed labels and the summary of one source."""
    fps, total = source.fps_and_total()
    if options.max_frames:
        total = min(total, options.max_frames) if total else options.max_frames
    p = spec.params
    tracker = FaceTracker(detector_for(p), options.multi_face, p)
    batcher = _Batcher(engine, spec, options.batch_size, fps, options.classify_every)
    bar = _progress(total, source, options.progress)
    try:
        for frame in source.frames(options.max_frames, decoded=True):
            batcher.add(tracker.push(frame))
            bar.update(1)
    except KeyboardInterrupt:
        if source.camera is None:
            raise
    finally:
        bar.close()
    batcher.add(tracker.flush())
    batcher.run()
    frames = tracker.count
    if frames == 0:
        from lightning_fer.errors import UserError

        raise UserError(f"{source.describe()}: no frames decoded")
    smooth_labels(batcher.rows, spec.classes, options.smooth_window)
    summary = summarize(batcher.rows, spec.classes, fps, frames, source.describe())
    return SourceResult(source, batcher.rows, summary, frames, fps)


def write_annotated(result: SourceResult, spec: ModelSpec, path: Path) -> Path:
    """Re-decode the source and draw each frame's rows (smoothed labels need the whole video first)."""
    from lightning_fer.predict.annotate import annotate
    from lightning_fer.video_io import VideoWriter

    by_frame: dict[int, list[FaceRow]] = {}
    for row in result.rows:
        by_frame.setdefault(row.frame, []).append(row)
    with VideoWriter(path, fps=result.fps if result.fps > 1 else 1.0, codec="libx264", gop=25) as writer:
        for index, frame in enumerate(result.source.frames(result.frames)):
            writer.write(annotate(frame, by_frame.get(index, []), spec.classes))
    return path


def _progress(total: int | None, source: Source, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=source.name[:30], unit="frame", disable=not enabled or total == 1,
                leave=False, dynamic_ncols=True)
