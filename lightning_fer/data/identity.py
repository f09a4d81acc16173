"""Which clip (and so which child) each evaluated frame came from.

The loaders only carry one integer per reader entry; evaluation gives each entry (a clip range of the
split) its index, and :class:`SplitIdentity` maps that index back to the class label and a clip id.
Segments of one clip (the ``frame`` protocol) share the clip id, so clip-level results are per video clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lightning_fer.data.splits import ClipRange


@dataclass(frozen=True)
class SplitIdentity:
    clips: tuple[str, ...]  # clip path per clip id
    subjects: tuple[str, ...]  # subject per clip id
    range_clip: tuple[int, ...]  # clip id per range (reader entry)
    range_label: tuple[int, ...]  # class label per range

    def entry_table(self) -> torch.Tensor:
        """E x 2 int64: (class label, clip id) of reader entry e, for the DALI loader's lookup."""
        return torch.tensor(list(zip(self.range_label, self.range_clip, strict=True)), dtype=torch.int64).reshape(-1, 2)


def split_identity(ranges: Sequence[ClipRange]) -> SplitIdentity:
    clip_of: dict[str, int] = {}
    subjects: list[str] = []
    for r in ranges:
        if r.clip not in clip_of:
            clip_of[r.clip] = len(clip_of)
            subjects.append(r.subject)
    return SplitIdentity(tuple(clip_of), tuple(subjects), tuple(clip_of[r.clip] for r in ranges),
                         tuple(r.label for r in ranges))
