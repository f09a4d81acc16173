"""An optional decoded-frame cache on the training device: decode once, then shuffle batches by index.

For a small dataset (LIRIS-CSE's 208 clips are ~50k frames, ~2.5 GB as float32 at 112 x 112) the
preprocessed frames fit on one GPU many times over, and after the first pass every batch is a gather
from device memory instead of a video decode. It is a benchmark mode (`fer bench train` shows it
beside the DALI-fed row), not the data module's default: it freezes the preprocessing of the first pass,
so per-epoch random augmentation would have to run on the cached tensors instead.
Runs unchanged on the CPU, which is how CI tests it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch


class FrameCache:
    """Every ``(frames, labels)`` of one pass over ``source``, held on ``device``; iterates seeded shuffled
    batches of ``batch_size`` (``drop_last`` as training does), a new order per pass (``seed + pass``)."""

    def __init__(self, source: Iterable[tuple[torch.Tensor, torch.Tensor]], batch_size: int,
                 device: torch.device | str = "cpu", seed: int = 0, drop_last: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        frames, labels = [], []
        for batch_frames, batch_labels in source:  # copy: DALI may reuse its output buffers
            frames.append(batch_frames.to(device, copy=True))
            labels.append(batch_labels.to(device, copy=True))
        if not frames:
            raise ValueError("frame cache: the source yielded no batches")
        self.frames, self.labels = torch.cat(frames), torch.cat(labels)
        self.batch_size, self.seed, self.drop_last = batch_size, seed, drop_last
        self.device = self.frames.device
        self.passes = 0

    @property
    def nbytes(self) -> int:
        return self.frames.numel() * self.frames.element_size() + self.labels.numel() * self.labels.element_size()

    def __len__(self) -> int:
        count = len(self.frames)
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator(device="cpu").manual_seed(self.seed + self.passes)
        self.passes += 1
        order = torch.randperm(len(self.frames), generator=generator).to(self.device)
        for index in range(len(self)):
            chosen = order[index * self.batch_size:(index + 1) * self.batch_size]
            yield self.frames.index_select(0, chosen), self.labels.index_select(0, chosen)
