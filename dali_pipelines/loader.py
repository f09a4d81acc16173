"""A PyTorch iterator over DALI clip pipelines: flat batches of frames for a LightningModule.

Each rank's file list holds only its own samples of the epoch (:mod:`dali_pipelines.epoch_order`: entries
permuted with (seed, epoch), equal training blocks), so the reader runs unsharded. Training pipelines are
rebuilt each epoch with pipeline seed ``seed + epoch`` (shuffle buffer, augmentation): the data is a
function of the epoch alone, a resumed run sees what an uninterrupted one would, and an epoch cut short
(``limit_train_batches``) never leaks into the next. ``state_dict`` / ``load_state_dict``
(:class:`dali_pipelines.resume.EpochProgress`) let Lightning resume in the middle of an epoch.

Start-up does not grow with the dataset: DALI's video reader opens and indexes every clip of its file list
before its first batch (~0.6 ms a clip here, 34 s per rank at 100,000 clips; docs/BENCHMARKS.md, `reader`).
So a pass is cut into chunks of about ``chunk_clips`` clips holding whole batches
(:func:`dali_pipelines.epoch_order.chunk_pieces`), one pipeline each, built with the reader's ``lazy_init``:
the indexing then runs in DALI's own threads at the pipeline's first run, and chunk k + 1 is started when
chunk k starts being read, so it is ready by the time it is needed. The first batch waits for one chunk only.
Chunk 0 of a pass uses the pipeline seed above, chunk k > 0 a seed drawn from (seed, epoch, k); evaluation
reads the same frames in the same order whatever the chunk size. Resuming skips whole chunks without
reading them (their pipelines are seeded independently), then reads the rest of the chunk it lands in.

With ``entry_table`` (E x 2: class label, clip id per file-list entry) the reader's label column holds the
entry index instead of the class, and batches become ``(frames, labels, clip ids)``: evaluation then knows
which clip every frame came from, under any sharding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nvidia.dali.backend import TensorGPU
from nvidia.dali.pipeline import Pipeline

from dali_pipelines.epoch_order import DEFAULT_CHUNK_CLIPS, chunk_pieces, epoch_shard, shard_entries, shard_size
from dali_pipelines.pipelines import build_pipeline
from dali_pipelines.resume import EpochProgress
from dali_pipelines.spec import PipelineSpec


class _Chunk:
    """One pipeline over a chunk of the pass: ``batches`` batches, the last one ``last`` samples long."""

    def __init__(self, spec: PipelineSpec, samples: int, train: bool) -> None:
        batch = spec.batch_size
        self.batches = samples // batch if train else -(-samples // batch)
        self.last = batch if train or samples % batch == 0 else samples % batch
        self.pipeline: Pipeline | None = build_pipeline(spec, lazy_init=True)
        self.pipeline.build()
        self.scheduled = 0  # runs queued so far
        self.depth = spec.prefetch_queue_depth

    def start(self) -> None:
        """Queue the first runs: DALI's threads index the clips and decode ahead while Python does other work."""
        if self.scheduled == 0:
            self.pipeline.schedule_run()  # the first call queues prefetch_queue_depth runs
            self.scheduled = self.depth

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        self.start()
        for index in range(self.batches):
            outputs = self.pipeline.share_outputs()
            tensors = [_to_torch(out.as_tensor()) for out in outputs]
            self.pipeline.release_outputs()  # dynamic executor: the tensors keep their buffers alive
            if self.scheduled < self.batches:  # never past the chunk: DALI would wrap round its file list
                self.pipeline.schedule_run()
                self.scheduled += 1
            yield tensors if index + 1 < self.batches else [t[:self.last] for t in tensors]
        self.close()

    def close(self) -> None:
        self.pipeline = None  # its threads stop; what it prefetched beyond the chunk is dropped


def _to_torch(tensor) -> torch.Tensor:
    """A DALI tensor as a torch tensor without a copy (as DALIGenericIterator does with the dynamic executor)."""
    if isinstance(tensor, TensorGPU):
        with torch.device("cuda", tensor.device_id()):
            return torch.from_dlpack(tensor)
    return torch.from_dlpack(tensor)


class DaliFrameLoader:
    """Iterable of ``(frames N x 1 x H x W float32, labels N int64[, clip ids N int64])``,
    N = sequences x sequence_length."""

    def __init__(self, spec: PipelineSpec, train: bool, epoch_fn: Callable[[], int] | None = None,
                 consumed_fn: Callable[[], int] | None = None, entry_table: torch.Tensor | None = None,
                 chunk_clips: int = DEFAULT_CHUNK_CLIPS) -> None:
        self.spec = spec
        self.entry_table = entry_table
        self.train = train
        self.chunk_clips = chunk_clips  # <= 0: one pipeline per pass
        self.progress = EpochProgress(spec.seed, epoch_fn, consumed_fn)
        self.shard_size = shard_size(spec.entries, spec.sampling, spec.shard_id, spec.num_shards, equal=spec.shuffle)
        self._ready: tuple[tuple[int, int], _Chunk] | None = None  # chunk 0 of an upcoming pass, built early
        self._planned: tuple[tuple[int, int], list] | None = None
        epoch = self.progress.upcoming_epoch()
        first = self._chunk(epoch, 0, *self._plan(epoch)[0][1:])  # bad settings fail here, bad clips at the first batch
        first.start()  # chunk 0 is indexed in DALI's threads while the trainer sets up
        self._ready = ((epoch, self.progress.seed), first)

    def __len__(self) -> int:
        """The same on every rank in training (equal blocks), so DDP ranks step together."""
        batches = self.shard_size / self.spec.batch_size
        return math.floor(batches) if self.train else math.ceil(batches)

    def _plan(self, epoch: int) -> list[tuple[int, list[tuple[int, range]], int]]:
        """The pass's chunks as (batches, pieces, samples), in reading order (kept for the last epoch asked).

        Plain data, no closures over ``self``: a reference cycle would leave a pipeline to the garbage collector,
        which may run it in a forked DataLoader worker, where DALI's destructor waits forever (seen in tests)."""
        spec, seed = self.spec, self.progress.seed
        if self._planned is not None and self._planned[0] == (epoch, seed):
            return self._planned[1]
        pieces = epoch_shard(spec.entries, spec.sampling, seed, epoch, spec.shuffle, spec.shard_id, spec.num_shards)
        plan = []
        for chunk in chunk_pieces(pieces, spec.batch_size, self.chunk_clips) or [[]]:
            samples = sum(len(starts) for _, starts in chunk)
            batches = samples // spec.batch_size if self.train else -(-samples // spec.batch_size)
            plan.append((batches, chunk, samples))
        self._planned = ((epoch, seed), plan)
        return plan

    def _chunk(self, epoch: int, k: int, chunk: list[tuple[int, range]], samples: int) -> _Chunk:
        """Chunk k's pipeline: seed + epoch (training) or seed for chunk 0, one drawn from (seed, epoch, k) after."""
        spec, seed = self.spec, self.progress.seed
        pipeline_seed = seed + epoch if self.train else seed
        if k > 0:
            pipeline_seed = int(np.random.SeedSequence([seed, epoch, k]).generate_state(1)[0] >> 1)
        chunk_spec = dataclasses.replace(spec, entries=shard_entries(spec.entries, chunk, spec.sampling),
                                         seed=pipeline_seed, shard_id=0, num_shards=1,
                                         file_list=_chunk_file(spec.file_list, k))
        return _Chunk(chunk_spec, samples, self.train)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, skip = self.progress.start_pass()
        ready, self._ready = self._ready, None
        first = ready[1] if ready is not None and ready[0] == (epoch, self.progress.seed) else None
        yield from self.progress.run(self._batches(epoch, skip, first), skip, len(self) if self.train else None)

    def _batches(self, epoch: int, skip: int, first: _Chunk | None) -> Iterator[Any]:
        """The pass's batches; ``None`` stands for each batch of a chunk that lies wholly within ``skip``."""
        plan = self._plan(epoch)
        done = 0  # batches of the chunks before the current one
        current = upcoming = None
        try:
            for k, (batches, pieces, samples) in enumerate(plan):
                if done + batches <= skip:  # resume: a chunk wholly consumed before the checkpoint
                    done += batches
                    yield from [None] * batches
                    continue
                current = upcoming or (first if k == 0 and first is not None else
                                       self._chunk(epoch, k, pieces, samples))
                upcoming = None
                if k + 1 < len(plan):
                    upcoming = self._chunk(epoch, k + 1, *plan[k + 1][1:])
                    upcoming.start()  # indexed and decoding in DALI's threads while this chunk is read
                for tensors in current:
                    yield self._batch(tensors)
                done += batches
                current = None
        finally:
            for chunk in (current, upcoming, first):
                if chunk is not None:
                    chunk.close()

    def _batch(self, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        frames, labels = tensors  # B x F x 1 x H x W, B x 1
        labels = labels.reshape(-1).to(torch.int64)
        frames, per_sample = frames.reshape(-1, *frames.shape[2:]), frames.shape[1]
        if self.entry_table is None:
            return frames, labels.repeat_interleave(per_sample)
        table = self.entry_table.to(labels.device)[labels]  # entry index -> (label, clip id)
        return frames, table[:, 0].repeat_interleave(per_sample), table[:, 1].repeat_interleave(per_sample)

    def state_dict(self) -> dict[str, Any]:
        """Epoch, batches consumed in it and shuffle seed (saved by Lightning in checkpoints)."""
        return self.progress.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after the batches a checkpointed run consumed: the next pass of that epoch skips them."""
        self.progress.load_state_dict(state)


def _chunk_file(file_list: str, k: int) -> str:
    """Chunk k's file list beside the spec's (chunk 0 keeps the spec's name)."""
    if k == 0:
        return file_list
    path = Path(file_list)
    return str(path.with_name(f"{path.stem}.chunk{k}{path.suffix}"))
