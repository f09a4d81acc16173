"""Percentile bootstrap over groups (subjects, or clips when a split has too few subjects).

Frames of one child are not independent samples; resampling whole children (or whole clips) gives an
interval that reflects how much the result would move with other children. Each group contributes a
confusion matrix, so a resample is a weighted sum of group matrices: fast and exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    min_subjects: int = 5  # fewer subjects in a split -> resample clips instead (and say so)


def bootstrap_intervals(group_confmats: Mapping[str, np.ndarray], stats: Mapping[str, Callable[[np.ndarray], float]],
                        settings: BootstrapSettings) -> dict[str, list[float]]:
    """``{stat: [low, high]}`` for every (matrix kind, stat) pair named ``f"{kind}_{stat}"``.

    ``group_confmats[kind]`` is G x C x C (one confusion matrix per group, the same G groups for every kind);
    each resample draws G groups with replacement (the same draw for every kind) and sums their matrices.
    """
    sizes = {len(m) for m in group_confmats.values()}
    if len(sizes) != 1:
        raise ValueError(f"every kind needs the same groups, got sizes {sizes}")
    groups = sizes.pop()
    if groups == 0:
        return {}
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, groups, size=(settings.resamples, groups))
    counts = np.zeros((settings.resamples, groups), dtype=np.int64)
    np.add.at(counts, (np.arange(settings.resamples)[:, None], draws), 1)
    tail = (1 - settings.level) / 2 * 100
    intervals = {}
    for kind, mats in group_confmats.items():
        resampled = np.einsum("bg,gij->bij", counts, np.asarray(mats, dtype=np.int64))
        for name, fn in stats.items():
            values = np.array([fn(m) for m in resampled])
            values = values[~np.isnan(values)]
            low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (np.nan, np.nan)
            intervals[f"{kind}_{name}"] = [float(low), float(high)]
    return intervals
