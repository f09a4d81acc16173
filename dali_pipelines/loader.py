"""A PyTorch iterator over a DALI clip pipeline: flat batches of frames for a LightningModule.

Wraps ``DALIGenericIterator`` with the reader's name so that epoch length and the last partial
batch come from DALI's shard bookkeeping (``LastBatchPolicy.PARTIAL`` for evaluation, so no
sample is padded in or dropped; ``DROP`` for training, like ``drop_last``).

Training pipelines are rebuilt each epoch with ``seed + epoch``: the shuffle order is then a
function of the epoch alone, so a run resumed from a checkpoint sees the same data as an
uninterrupted one, and an epoch cut short (``limit_train_batches``) never leaks into the next.

With ``entry_table`` (E x 2: class label, clip id per file-list entry) the reader's label column holds the
entry index instead of the class, and batches become ``(frames, labels, clip ids)``: evaluation then knows
which clip every frame came from, under any sharding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import torch
from nvidia.dali.plugin.base_iterator import LastBatchPolicy
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from dali_pipelines.pipelines import READER_NAME, PipelineSpec, build_pipeline


class DaliFrameLoader:
    """Iterable of ``(frames N x 1 x H x W float32, labels N int64[, clip ids N int64])``,
    N = sequences x sequence_length."""

    def __init__(self, spec: PipelineSpec, train: bool, epoch_fn: Callable[[], int] | None = None,
                 entry_table: torch.Tensor | None = None) -> None:
        self.spec = spec
        self.entry_table = entry_table
        self.train = train
        self.epoch_fn = epoch_fn or (lambda: 0)
        self._iterator: DALIGenericIterator | None = None
        self._built_for_epoch: int | None = None
        self._exhausted = True
        self._build(self.epoch_fn())

    def _build(self, epoch: int) -> None:
        spec = dataclasses.replace(self.spec, seed=self.spec.seed + epoch) if self.train else self.spec
        pipeline = build_pipeline(spec)
        pipeline.build()
        self._iterator = DALIGenericIterator(
            [pipeline], ["frames", "labels"], reader_name=READER_NAME,
            last_batch_policy=LastBatchPolicy.DROP if self.train else LastBatchPolicy.PARTIAL,
            auto_reset=True, prepare_first_batch=False,
        )
        self._epoch_size = pipeline.reader_meta(READER_NAME)["epoch_size"]
        self._built_for_epoch = epoch

    @property
    def shard_size(self) -> int:
        """Sequences in this rank's shard (the reader's view, before batching)."""
        total, shard, shards = self._epoch_size, self.spec.shard_id, self.spec.num_shards
        return (total * (shard + 1)) // shards - (total * shard) // shards

    def __len__(self) -> int:
        batches = self.shard_size / self.spec.batch_size
        return math.floor(batches) if self.train else math.ceil(batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch_fn()
        if not self._exhausted or (self.train and epoch != self._built_for_epoch):
            self._build(epoch)
        self._exhausted = False
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
