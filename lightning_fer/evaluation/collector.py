"""Per-frame test outputs (probabilities, labels, clip ids) kept during a test epoch, gathered over ranks.

Torch only: ``gather`` takes any object with Lightning's ``all_gather`` (the LightningModule). Ranks may hold
different numbers of frames (DALI shards differ by one sequence), so each pads to the largest count first.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch


class _Gatherer(Protocol):
    def all_gather(self, data: torch.Tensor) -> torch.Tensor: ...


class FrameOutputs:
    def __init__(self) -> None:
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def reset(self) -> None:
        self.parts = []

    def add(self, logits: torch.Tensor, labels: torch.Tensor, clip_ids: torch.Tensor) -> None:
        self.parts.append((torch.softmax(logits.detach().float(), dim=1), labels.detach(), clip_ids.detach()))

    def gather(self, gatherer: _Gatherer, world_size: int, num_classes: int,
               device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every rank's frames, concatenated in rank order, as NumPy (probs N x C, labels N, clip ids N).

        Every rank must call this (it is a collective under DDP)."""
        if self.parts:
            probs, labels, clips = (torch.cat(column) for column in zip(*self.parts, strict=True))
        else:
            probs = torch.zeros((0, num_classes), device=device)
            labels = clips = torch.zeros(0, dtype=torch.int64, device=device)
        if world_size > 1:
            probs, labels, clips = (_gather_ragged(gatherer, t, world_size) for t in (probs, labels, clips))
        return probs.cpu().numpy(), labels.cpu().numpy(), clips.cpu().numpy()


def _gather_ragged(gatherer: _Gatherer, tensor: torch.Tensor, world_size: int) -> torch.Tensor:
    sizes = gatherer.all_gather(torch.tensor(len(tensor), device=tensor.device)).reshape(world_size).tolist()
    padded = torch.zeros((max(sizes), *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[:len(tensor)] = tensor
    gathered = gatherer.all_gather(padded)  # world x max x ...
    return torch.cat([gathered[rank, :size] for rank, size in enumerate(sizes)])
