"""A PyTorch iterator over a DALI clip pipeline: flat batches of frames for a LightningModule.

Wraps ``DALIGenericIterator`` with the reader's name so that the last partial batch comes from DALI's
bookkeeping (``LastBatchPolicy.PARTIAL`` for evaluation, so no sample is padded in or dropped; ``DROP``
for training, like ``drop_last``).

Each rank's file list holds only its own samples of the epoch (:mod:`dali_pipelines.epoch_order`: entries
permuted with (seed, epoch), equal training blocks), so the reader runs unsharded. Training pipelines are
rebuilt each epoch with pipeline seed ``seed + epoch`` (shuffle buffer, augmentation): the data is a
function of the epoch alone, a resumed run sees what an uninterrupted one would, and an epoch cut short
(``limit_train_batches``) never leaks into the next. ``state_dict`` / ``load_state_dict``
(:class:`dali_pipelines.resume.EpochProgress`) let Lightning resume in the middle of an epoch.

With ``entry_table`` (E x 2: class label, clip id per file-list entry) the reader's label column holds the
entry index instead of the class, and batches become ``(frames, labels, clip ids)``: evaluation then knows
which clip every frame came from, under any sharding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from nvidia.dali.plugin.base_iterator import LastBatchPolicy
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from dali_pipelines.epoch_order import epoch_shard, shard_entries, shard_size
from dali_pipelines.pipelines import READER_NAME, build_pipeline
from dali_pipelines.resume import EpochProgress
from dali_pipelines.spec import PipelineSpec


class DaliFrameLoader:
    """Iterable of ``(frames N x 1 x H x W float32, labels N int64[, clip ids N int64])``,
    N = sequences x sequence_length."""

    def __init__(self, spec: PipelineSpec, train: bool, epoch_fn: Callable[[], int] | None = None,
                 consumed_fn: Callable[[], int] | None = None, entry_table: torch.Tensor | None = None) -> None:
        self.spec = spec
        self.entry_table = entry_table
        self.train = train
        self.progress = EpochProgress(spec.seed, epoch_fn, consumed_fn)
        self.shard_size = shard_size(spec.entries, spec.sampling, spec.shard_id, spec.num_shards, equal=spec.shuffle)
        self._iterator: DALIGenericIterator | None = None
        self._built_for: tuple[int, int] | None = None
        self._exhausted = True
        self._build(self.progress.upcoming_epoch())  # fail early on bad clips or settings

    def _build(self, epoch: int) -> None:
        spec, seed = self.spec, self.progress.seed
        pieces = epoch_shard(spec.entries, spec.sampling, seed, epoch, spec.shuffle, spec.shard_id, spec.num_shards)
        spec = dataclasses.replace(spec, entries=shard_entries(spec.entries, pieces, spec.sampling),
                                   seed=seed + epoch if self.train else seed, shard_id=0, num_shards=1)
        pipeline = build_pipeline(spec)
        pipeline.build()
        self._iterator = DALIGenericIterator(
            [pipeline], ["frames", "labels"], reader_name=READER_NAME,
            last_batch_policy=LastBatchPolicy.DROP if self.train else LastBatchPolicy.PARTIAL,
            auto_reset=True, prepare_first_batch=False,
        )
        self._built_for = (epoch, seed)

    def __len__(self) -> int:
        """The same on every rank in training (equal blocks), so DDP ranks step together."""
        batches = self.shard_size / self.spec.batch_size
        return math.floor(batches) if self.train else math.ceil(batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, skip = self.progress.start_pass()
        if not self._exhausted or (self.train and (epoch, self.progress.seed) != self._built_for):
            self._build(epoch)
        self._exhausted = False
        yield from self.progress.run(self._batches(), skip, len(self) if self.train else None)

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in self._iterator:
            data = batch[0]
            frames = data["frames"]  # B x F x 1 x H x W
            labels = data["labels"].reshape(-1).to(torch.int64)
            frames, per_sample = frames.reshape(-1, *frames.shape[2:]), frames.shape[1]
            if self.entry_table is None:
                yield frames, labels.repeat_interleave(per_sample)
            else:
                table = self.entry_table.to(labels.device)[labels]  # entry index -> (label, clip id)
                yield frames, table[:, 0].repeat_interleave(per_sample), table[:, 1].repeat_interleave(per_sample)
        self._exhausted = True

    def state_dict(self) -> dict[str, Any]:
        """Epoch, batches consumed in it and shuffle seed (saved by Lightning in checkpoints)."""
        return self.progress.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after the batches a checkpointed run consumed: the next pass of that epoch skips them."""
        self.progress.load_state_dict(state)
