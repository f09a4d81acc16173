"""Remedies for a skewed training split (the paper's data: 17 angry test frames against 1,145 happy ones).

Two options, off by default: ``model.class_weighted_loss`` weights the training loss by inverse class
frequency (:func:`class_weights`), ``data.balanced_sampling`` repeats training clip ranges of the rarer
classes (:func:`oversample_ranges`). Both work on the split's ranges, so the DALI and baseline loaders
see the same data. Use one of them, not both (both together over-correct).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lightning_fer.data.splits import ClipRange


def class_frames(ranges: Sequence[ClipRange], num_classes: int) -> np.ndarray:
    """Frames per class in a split."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for r in ranges:
        counts[r.label] += r.frames
    return counts


def class_weights(counts: Sequence[int]) -> np.ndarray:
    """scikit-learn's "balanced" weights, ``total / (classes present x count)``; 0 for a class with no frames."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def oversample_ranges(ranges: Sequence[ClipRange], num_classes: int, seed: int) -> list[ClipRange]:
    """Add randomly drawn (seeded) ranges of each class until its frames reach the largest class's frames."""
    counts = class_frames(ranges, num_classes)
    target = counts.max(initial=0)
    rng = np.random.default_rng(seed)
    out = list(ranges)
    for label in range(num_classes):
        pool = [r for r in ranges if r.label == label]
        total = counts[label]
        while pool and total < target:
            extra = pool[int(rng.integers(len(pool)))]
            out.append(extra)
            total += extra.frames
    return out
