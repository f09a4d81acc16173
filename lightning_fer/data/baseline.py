"""The baseline loader: a torch DataLoader that decodes clips with PyAV and preprocesses with the
NumPy/OpenCV reference. Same samples, sharding and batch shapes as the DALI loader, for the
benchmark and for machines without DALI."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import islice

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from dali_pipelines.pipelines import FrameSampling
from dali_pipelines.reference import Normalization, preprocess
from lightning_fer.data.splits import ClipRange
from lightning_fer.video_io import iter_frames


def sample_starts(clip: ClipRange, sampling: FrameSampling) -> list[int]:
    """First frames of the runs the DALI reader takes from a range (same arithmetic)."""
    span = (sampling.sequence_length - 1) * sampling.stride + 1
    return list(range(clip.start, clip.end - span + 1, sampling.step))


class ClipFrameDataset(IterableDataset):
    """Yields (F x 1 x H x W float32, label) runs, sharded by (rank, world) and then by DataLoader worker;
    with ``clip_ids`` (one per range) (frames, label, clip id), as the DALI loader with an entry table."""

    def __init__(self, ranges: list[ClipRange], sampling: FrameSampling, normalization: Normalization,
                 shuffle: bool, seed: int, shard_id: int = 0, num_shards: int = 1,
                 clip_ids: Sequence[int] | None = None) -> None:
        self.samples = [(r, s) for r in ranges for s in sample_starts(r, sampling)]
        self.sample_clip = None if clip_ids is None else [c for r, c in zip(ranges, clip_ids, strict=True)
                                                          for _ in sample_starts(r, sampling)]
        self.sampling, self.normalization = sampling, normalization
        self.shuffle, self.seed = shuffle, seed
        self.epoch = 0  # set by the loader in the main process: workers get a fresh copy each epoch
        total = len(self.samples)
        self.shard = range((total * shard_id) // num_shards, (total * (shard_id + 1)) // num_shards)

    def __len__(self) -> int:
        return len(self.shard)

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        order = np.arange(len(self.samples))
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(order)
        mine = [order[i] for i in self.shard]
        worker = get_worker_info()
        if worker is not None:  # contiguous chunks: in evaluation order each clip is decoded by one worker only
            mine = [mine[i] for i in worker_chunk(len(mine), worker.id, worker.num_workers)]
        cached_clip, frames = "", np.empty(0)
        for index in mine:
            clip, start = self.samples[index]
            stop = start + (self.sampling.sequence_length - 1) * self.sampling.stride + 1
            if clip.clip != cached_clip or len(frames) < stop:
                # Decode from the start up to what this run needs; in order (evaluation) one decode serves
                # the whole clip, shuffled (training) each run decodes its own prefix.
                frames = np.stack(list(islice(iter_frames(clip.clip), clip.end if not self.shuffle else stop)))
                cached_clip = clip.clip
            sample = preprocess(frames[start:stop:self.sampling.stride], self.normalization), clip.label
            yield sample if self.sample_clip is None else (*sample, self.sample_clip[index])


def worker_chunk(total: int, worker: int, workers: int) -> range:
    """The contiguous slice of ``total`` samples that DataLoader worker ``worker`` of ``workers`` reads."""
    return range((total * worker) // workers, (total * (worker + 1)) // workers)


def _collate(batch: list[tuple]) -> tuple[torch.Tensor, ...]:
    """(frames, labels[, clip ids]): integer columns repeated for every frame of a run."""
    frames = torch.from_numpy(np.concatenate([b[0] for b in batch]))
    per_sample = batch[0][0].shape[0]
    columns = list(zip(*batch, strict=True))[1:]
    return frames, *(torch.tensor(c, dtype=torch.int64).repeat_interleave(per_sample) for c in columns)


class BaselineFrameLoader:
    """DataLoader over :class:`ClipFrameDataset` with the DALI loader's length and batch semantics."""

    def __init__(self, dataset: ClipFrameDataset, batch_size: int, train: bool, num_workers: int) -> None:
        self.dataset, self.batch_size, self.train = dataset, batch_size, train
        self.num_workers = num_workers
        self._epochs = 0
        self.loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate,
                                 drop_last=train, persistent_workers=False)

    def __len__(self) -> int:
        # Each worker batches its own slice, so partial batches arise per worker.
        workers = max(1, self.num_workers)
        slices = [len(worker_chunk(len(self.dataset), w, workers)) for w in range(workers)]
        round_ = math.floor if self.train else math.ceil
        return sum(round_(n / self.batch_size) for n in slices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.dataset.epoch = self._epochs  # workers get copies made by iter(), so set it first
        self._epochs += 1
        return iter(self.loader)
