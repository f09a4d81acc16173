"""The baseline loader: a torch DataLoader that decodes clips with PyAV and preprocesses with the
NumPy/OpenCV reference. Same samples, sharding, batch shapes and augmentation (same distribution) as
the DALI loader, for the benchmark and for machines without DALI (it imports no ``nvidia.dali``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from dali_pipelines.epoch_order import epoch_shard, shard_size
from dali_pipelines.reference import augment, center_crop, crop_offsets, preprocess
from dali_pipelines.resume import EpochProgress
from dali_pipelines.spec import MODEL_INPUT_SIDE, Augmentation, FrameSampling, Normalization
from lightning_fer.data.splits import ClipRange
from lightning_fer.video_io import iter_frames


class ClipFrameDataset(IterableDataset):
    """Yields (F x 1 x H x W float32, label) runs of this rank's part, then split by DataLoader worker; with
    ``clip_ids`` (one per range) (frames, label, clip id), as the DALI loader with an entry table.

    The rank's samples each epoch come from :func:`dali_pipelines.epoch_order.epoch_shard`, as in the DALI
    loader (same subsets per rank and epoch); training then permutes them with (seed, epoch, rank), where DALI
    mixes them in its 256-sample buffer. Augmented runs draw from a generator seeded by (seed, epoch, entry,
    first frame): reproducible whatever the number of workers, new draws every epoch.
    """

    def __init__(self, ranges: list[ClipRange], sampling: FrameSampling, normalization: Normalization,
                 shuffle: bool, seed: int, shard_id: int = 0, num_shards: int = 1,
                 augmentation: Augmentation = Augmentation(), clip_ids: Sequence[int] | None = None,
                 input_size: int = MODEL_INPUT_SIDE) -> None:
        self.ranges = ranges
        self.input_size = input_size
        self.entries = [(r.clip, r.label, r.start, r.end) for r in ranges]
        self.clip_ids = None if clip_ids is None else list(clip_ids)
        if self.clip_ids is not None and len(self.clip_ids) != len(ranges):
            raise ValueError(f"clip_ids: {len(self.clip_ids)} ids for {len(ranges)} ranges")
        self.sampling, self.normalization, self.augmentation = sampling, normalization, augmentation
        self.shuffle, self.seed = shuffle, seed
        self.shard_id, self.num_shards = shard_id, num_shards
        self.epoch = 0  # set by the loader in the main process: workers get a fresh copy each epoch

    def __len__(self) -> int:
        return shard_size(self.entries, self.sampling, self.shard_id, self.num_shards, equal=self.shuffle)

    def epoch_samples(self) -> list[tuple[int, int]]:
        """(entry index, first frame) of this rank's runs this epoch, in reading order."""
        pieces = epoch_shard(self.entries, self.sampling, self.seed, self.epoch, self.shuffle, self.shard_id,
                             self.num_shards)
        mine = [(index, start) for index, starts in pieces for start in starts]
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, self.shard_id]).permutation(len(mine))
            mine = [mine[i] for i in order]
        return mine

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        mine = self.epoch_samples()
        worker = get_worker_info()
        if worker is not None:  # contiguous chunks: in evaluation order each clip is decoded by one worker only
            mine = [mine[i] for i in worker_chunk(len(mine), worker.id, worker.num_workers)]
        cached_clip, frames = "", np.empty(0)
        for index, start in mine:
            clip = self.ranges[index]
            stop = start + (self.sampling.sequence_length - 1) * self.sampling.stride + 1
            if clip.clip != cached_clip or len(frames) < stop:
                # Decode from the start up to what this run needs; in order (evaluation) one decode serves
                # the whole clip, shuffled (training) each run decodes its own prefix.
                frames = np.stack(list(islice(iter_frames(clip.clip), clip.end if not self.shuffle else stop)))
                cached_clip = clip.clip
            run = frames[start:stop:self.sampling.stride]
            rng = np.random.default_rng([self.seed, self.epoch, index, start])
            if self.augmentation.enabled:
                run = augment(run, self.augmentation, rng)
            offsets = None
            if self.augmentation.random_crop:  # after the other augmentations, as in the DALI graph
                offsets = crop_offsets(run.shape[1], self.input_size, rng)
            run = center_crop(run, self.input_size, offsets)
            sample = preprocess(run, self.normalization), clip.label
            yield sample if self.clip_ids is None else (*sample, self.clip_ids[index])


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
    """DataLoader over :class:`ClipFrameDataset` with the DALI loader's length, batch and resume semantics."""

    def __init__(self, dataset: ClipFrameDataset, batch_size: int, train: bool, num_workers: int,
                 epoch_fn: Callable[[], int] | None = None, consumed_fn: Callable[[], int] | None = None) -> None:
        self.dataset, self.batch_size, self.train = dataset, batch_size, train
        self.num_workers = num_workers
        self.progress = EpochProgress(dataset.seed, epoch_fn, consumed_fn)
        self.loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate,
                                 drop_last=train, persistent_workers=False)

    def __len__(self) -> int:
        # Each worker batches its own slice, so partial batches arise per worker.
        workers = max(1, self.num_workers)
        slices = [len(worker_chunk(len(self.dataset), w, workers)) for w in range(workers)]
        round_ = math.floor if self.train else math.ceil
        return sum(round_(n / self.batch_size) for n in slices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, skip = self.progress.start_pass()
        self.dataset.epoch, self.dataset.seed = epoch, self.progress.seed  # workers get copies made by iter()
        return self.progress.run(iter(self.loader), skip, len(self) if self.train else None)

    def state_dict(self) -> dict[str, Any]:
        """Epoch, batches consumed in it and shuffle seed (saved by Lightning in checkpoints)."""
        return self.progress.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after the batches a checkpointed run consumed: the next pass of that epoch skips them."""
        self.progress.load_state_dict(state)
