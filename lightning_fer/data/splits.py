"""Train/val/test splits of a crop-pass manifest, by evaluation protocol.

- ``frame``: the paper's protocol. Each clip is cut into segments of ``segment_frames`` frames,
  assigned at random, so frames of one video land in train and test (optimistic; leaks identity).
- ``video``: whole source videos are assigned; a child may appear in train and test.
- ``subject``: whole children are assigned (the honest default: accuracy on unseen children).
Cross-validation (``num_folds``; ``num_folds = subjects`` is leave-one-subject-out) rotates the
test groups; validation groups are drawn from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from lightning_fer.errors import UserError

Protocol = Literal["frame", "video", "subject"]
DEFAULT_PROTOCOL: Protocol = "subject"  # held-out children: the honest default (the paper's is "frame")
STAGES = ("train", "val", "test")


@dataclass(frozen=True)
class ClipRange:
    """Frames [start, end) of one face clip: the unit that the DALI reader's file list names."""

    clip: str
    label: int
    start: int
    end: int
    subject: str
    video_id: str

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SplitConfig:
    protocol: Protocol = DEFAULT_PROTOCOL
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    segment_frames: int = 5
    num_folds: int | None = None
    fold: int = 0

    def __post_init__(self) -> None:
        if self.protocol not in get_args(Protocol):
            raise UserError(f"split protocol {self.protocol!r}: expected frame, video or subject")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise UserError(f"split fractions val={self.val_fraction} test={self.test_fraction} must be in [0, 1) "
                            "and sum below 1")
        if self.num_folds is not None and not 0 <= self.fold < self.num_folds:
            raise UserError(f"fold {self.fold} is outside 0..{self.num_folds - 1}")
        if self.segment_frames < 1:
            raise UserError(f"segment_frames must be >= 1, got {self.segment_frames}")


def make_splits(manifest: pd.DataFrame, config: SplitConfig, clip_root: str = "") -> dict[str, list[ClipRange]]:
    """Split a manifest into stage -> clip ranges; deterministic for a given seed."""
    rows = manifest.sort_values("video_id").reset_index(drop=True)
    clips = [
        ClipRange(clip=_join(clip_root, r.clip), label=int(r.label_index), start=0, end=int(r.frames),
                  subject=str(r.subject), video_id=str(r.video_id))
        for r in rows.itertuples()
    ]
    if config.protocol == "frame":
        segments = [seg for clip in clips for seg in _segments(clip, config.segment_frames)]
        return _assign(segments, [str(i) for i in range(len(segments))], config)
    key = "subject" if config.protocol == "subject" else "video_id"
    return _assign(clips, [getattr(c, key) for c in clips], config)


def _assign(items: list[ClipRange], groups: list[str], config: SplitConfig) -> dict[str, list[ClipRange]]:
    rng = np.random.default_rng(config.seed)
    unique = sorted(set(groups))
    order = [unique[i] for i in rng.permutation(len(unique))]
    if config.num_folds is not None:
        if config.num_folds > len(order):
            raise UserError(f"{config.num_folds} folds but only {len(order)} {config.protocol} groups")
        test = set(order[config.fold::config.num_folds])
        rest = [g for g in order if g not in test]
        n_val = _count(config.val_fraction, len(order), len(rest) - 1)
        val = set(rest[:n_val])
    else:
        n_test = _count(config.test_fraction, len(order), len(order) - 1)
        n_val = _count(config.val_fraction, len(order), len(order) - n_test - 1)
        test, val = set(order[:n_test]), set(order[n_test:n_test + n_val])
    stage_of = {g: "test" if g in test else "val" if g in val else "train" for g in order}
    splits: dict[str, list[ClipRange]] = {stage: [] for stage in STAGES}
    for item, group in zip(items, groups, strict=True):
        splits[stage_of[group]].append(item)
    return splits


def _count(fraction: float, total: int, at_most: int) -> int:
    """Groups for a fraction: at least one when the fraction is positive, never all of them."""
    if fraction <= 0 or at_most <= 0:
        return 0
    return max(1, min(at_most, round(fraction * total)))


def _segments(clip: ClipRange, length: int) -> list[ClipRange]:
    return [
        ClipRange(clip.clip, clip.label, start, min(start + length, clip.end), clip.subject, clip.video_id)
        for start in range(clip.start, clip.end, length)
    ]


def _join(root: str, path: str) -> str:
    from pathlib import Path

    return str(Path(root) / path) if root else path


def describe(splits: dict[str, list[ClipRange]], protocol: str) -> str:
    """One line per stage: clips/segments, frames, subjects - for logs and reports."""
    lines = [f"split protocol: {protocol}"]
    for stage in STAGES:
        items = splits[stage]
        lines.append(f"  {stage:5s}: {len(items):5d} ranges, {sum(i.frames for i in items):7d} frames, "
                     f"{len({i.subject for i in items})} subjects, {len({i.video_id for i in items})} videos")
    return "\n".join(lines)
