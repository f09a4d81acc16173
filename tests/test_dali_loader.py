"""DaliFrameLoader semantics on the small prepared set: shapes, epoch length, last batch, sharding,
seeded shuffling, sequences, and agreement with the baseline (PyAV) loader."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from dali_media import PREPARED_CLIP_SIZE, batches, collect

from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.spec import FrameSampling, Normalization, PipelineSpec
from lightning_fer.data.baseline import BaselineFrameLoader, ClipFrameDataset
from lightning_fer.data.splits import ClipRange
from lightning_fer.prepare import read_manifest


@pytest.fixture(scope="module")
def ranges(small_prepared) -> list[ClipRange]:
    manifest = read_manifest(small_prepared)
    return [ClipRange(str(small_prepared / r.clip), int(r.label_index), 0, int(r.frames), r.subject, r.video_id)
            for r in manifest.itertuples()]


@pytest.fixture(scope="module")
def total_frames(ranges) -> int:
    return sum(r.frames for r in ranges)


def _loader(ranges, tmp: Path, batch: int, train: bool, sampling=FrameSampling(), seed: int = 0, shard: int = 0,
            shards: int = 1, epoch: int = 0) -> DaliFrameLoader:
    spec = PipelineSpec(entries=[(r.clip, r.label, r.start, r.end) for r in ranges],
                        file_list=str(tmp / f"list-{train}-{shard}-{seed}-{epoch}.txt"), batch_size=batch,
                        sampling=sampling, shuffle=train, seed=seed, shard_id=shard, num_shards=shards,
                        clip_size=PREPARED_CLIP_SIZE)
    return DaliFrameLoader(spec, train=train, epoch_fn=lambda: epoch)


def _hashes(frames: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(f).tobytes()).hexdigest() for f in frames]


@pytest.fixture(scope="module")
def eval_pass(ranges, tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """Every frame once, in file order (one shard)."""
    return collect(_loader(ranges, tmp_path_factory.mktemp("eval"), batch=32, train=False))


def test_eval_shapes_dtypes_length_and_partial_last_batch(ranges, total_frames, tmp_path):
    loader = _loader(ranges, tmp_path, batch=32, train=False)
    assert total_frames % 32 != 0, "fixture must leave a partial last batch"
    for _ in range(2):  # a second epoch behaves the same
        shapes = batches(loader)
        assert len(shapes) == len(loader) == -(-total_frames // 32)
        assert all(f[1:] == (1, 112, 112) and fd == torch.float32 and yd == torch.int64 and y == f[:1]
                   for f, fd, y, yd in shapes)
        assert [s[0][0] for s in shapes] == [32] * (len(shapes) - 1) + [total_frames % 32]


def test_train_drops_partial_last_batch(ranges, total_frames, tmp_path):
    loader = _loader(ranges, tmp_path, batch=32, train=True)
    shapes = batches(loader)
    assert len(shapes) == len(loader) == total_frames // 32
    assert all(s[0][0] == 32 for s in shapes)


def test_eval_pass_is_every_frame_in_file_order(ranges, eval_pass, total_frames):
    frames, labels = eval_pass
    assert frames.shape == (total_frames, 1, 112, 112)
    expected = np.concatenate([np.full(r.frames, r.label) for r in ranges])
    np.testing.assert_array_equal(labels, expected)
    assert frames.min() >= 0.0 and frames.max() <= 1.0


def test_two_eval_shards_cover_every_frame_exactly_once(ranges, eval_pass, tmp_path):
    frames, labels = eval_pass
    everything = Counter(zip(_hashes(frames), labels.tolist(), strict=True))
    assert len(everything) > 0.95 * len(frames), "frames must be distinguishable by content"
    parts, lengths = Counter(), []
    for shard in (0, 1):
        loader = _loader(ranges, tmp_path, batch=32, train=False, shard=shard, shards=2)
        shard_frames, shard_labels = collect(loader)
        lengths.append(len(shard_frames))
        parts.update(zip(_hashes(shard_frames), shard_labels.tolist(), strict=True))
    assert sum(lengths) == len(frames) and min(lengths) > 0
    assert parts == everything  # same multiset: nothing missing, nothing twice


def test_training_shuffle_is_seeded_per_epoch(ranges, eval_pass, tmp_path):
    def order(seed: int, epoch: int) -> list[str]:
        frames, _ = collect(_loader(ranges, tmp_path, batch=32, train=True, seed=seed, epoch=epoch))
        return _hashes(frames)

    first, again, next_epoch = order(7, 0), order(7, 0), order(7, 1)
    assert first == again
    assert first != next_epoch
    assert first != _hashes(eval_pass[0])[:len(first)]  # shuffled, not file order
    assert set(first) <= set(_hashes(eval_pass[0]))


def test_sequences_give_consecutive_frames_with_repeated_labels(ranges, eval_pass, tmp_path):
    sampling = FrameSampling(sequence_length=4, stride=1, step=4)
    loader = _loader(ranges, tmp_path, batch=8, train=True, sampling=sampling)
    sequences = sum(len(range(0, r.frames - 3, 4)) for r in ranges)
    assert len(loader) == sequences // 8
    frames, labels = collect(loader)
    assert frames.shape == (len(loader) * 8 * 4, 1, 112, 112)
    position = {h: i for i, h in enumerate(_hashes(eval_pass[0]))}
    index = np.array([position[h] for h in _hashes(frames)]).reshape(-1, 4)
    np.testing.assert_array_equal(np.diff(index, axis=1), 1)  # 4 consecutive frames of one clip
    runs = labels.reshape(-1, 4)
    assert (runs == runs[:, :1]).all()
    np.testing.assert_array_equal(runs[:, 0], eval_pass[1][index[:, 0]])


def _baseline(ranges, workers: int) -> BaselineFrameLoader:
    dataset = ClipFrameDataset(ranges, FrameSampling(), Normalization(), shuffle=False, seed=0)
    return BaselineFrameLoader(dataset, batch_size=32, train=False, num_workers=workers)


def test_baseline_eval_matches_dali(ranges, eval_pass, tmp_path):
    """In-process baseline: same len(), same labels in the same order, frames within the decoder tolerance
    measured in test_dali_parity (DALI's BT.601 decode vs PyAV rgb24)."""
    loader = _baseline(ranges, workers=0)
    assert len(loader) == len(_loader(ranges, tmp_path, batch=32, train=False))
    assert len(batches(loader)) == len(loader)
    frames, labels = collect(loader)
    dali_frames, dali_labels = eval_pass
    assert frames.shape == dali_frames.shape and frames.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, dali_labels)
    levels = np.abs(np.rint(frames * 255) - np.rint(dali_frames * 255))
    assert levels.mean() <= 8.0 and np.percentile(levels, 99) <= 64


def test_baseline_with_workers_gives_the_same_frames(ranges):
    """Two workers: the same multiset of (frame, label) as in-process; len() counts per-worker partial batches."""
    single, single_labels = collect(_baseline(ranges, workers=0))
    loader = _baseline(ranges, workers=2)
    assert len(batches(loader)) == len(loader)
    frames, labels = collect(loader)
    assert Counter(zip(_hashes(frames), labels.tolist(), strict=True)) == \
        Counter(zip(_hashes(single), single_labels.tolist(), strict=True))
