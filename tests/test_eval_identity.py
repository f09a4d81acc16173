"""Val/test loaders tell which clip every frame came from: DALI (entry index in the reader's label column)
and baseline alike, each frame exactly once across shards, segments of one clip under one clip id."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from dali_media import PREPARED_CLIP_SIZE

from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.spec import FrameSampling, Normalization, PipelineSpec
from lightning_fer.data.baseline import BaselineFrameLoader, ClipFrameDataset
from lightning_fer.data.identity import split_identity


@pytest.fixture(scope="module")
def frame_split(small_prepared):
    from lightning_fer.data.datamodule import FERDataModule

    splits = FERDataModule(data_dir=str(small_prepared), protocol="frame", segment_frames=7).prepare_splits()
    return splits["test"]


def _dali(ranges, identity, tmp, shard, shards):
    spec = PipelineSpec(entries=[(r.clip, i, r.start, r.end) for i, r in enumerate(ranges)],
                        file_list=str(tmp / f"ids-{shard}.txt"), batch_size=16, shard_id=shard, num_shards=shards,
                        clip_size=PREPARED_CLIP_SIZE)
    return DaliFrameLoader(spec, train=False, entry_table=identity.entry_table())


def _baseline(ranges, identity, shard, shards):
    dataset = ClipFrameDataset(ranges, FrameSampling(), Normalization(), shuffle=False, seed=0, shard_id=shard,
                               num_shards=shards, clip_ids=identity.range_clip)
    return BaselineFrameLoader(dataset, 16, train=False, num_workers=0)


def _columns(loader) -> tuple[np.ndarray, np.ndarray]:
    labels, clips = [], []
    for frames, batch_labels, batch_clips in loader:
        assert len(frames) == len(batch_labels) == len(batch_clips)
        labels.append(batch_labels.numpy())
        clips.append(batch_clips.numpy())
    return np.concatenate(labels), np.concatenate(clips)


@pytest.mark.parametrize("kind", ["dali", "baseline"])
def test_every_frame_once_with_its_clip_across_shards(frame_split, kind, tmp_path):
    identity = split_identity(frame_split)
    assert len(identity.clips) < len(frame_split)  # segments of one clip share its id
    expected = Counter()
    for r, clip in zip(frame_split, identity.range_clip, strict=True):
        expected[clip] += r.frames
    label_of = {c: r.label for r, c in zip(frame_split, identity.range_clip, strict=True)}
    seen = Counter()
    for shard in range(2):
        loader = _dali(frame_split, identity, tmp_path, shard, 2) if kind == "dali" else \
            _baseline(frame_split, identity, shard, 2)
        labels, clips = _columns(loader)
        assert all(label_of[c] == y for c, y in zip(clips.tolist(), labels.tolist(), strict=True))
        seen.update(clips.tolist())
    assert seen == expected  # each frame counted once, under its own clip


def test_dali_and_baseline_agree_frame_by_frame(frame_split, tmp_path):
    identity = split_identity(frame_split)
    dali, baseline = _columns(_dali(frame_split, identity, tmp_path, 0, 1)), \
        _columns(_baseline(frame_split, identity, 0, 1))
    np.testing.assert_array_equal(dali[0], baseline[0])
    np.testing.assert_array_equal(dali[1], baseline[1])
