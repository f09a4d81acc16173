"""The chunked DALI loader (one pipeline per ~chunk_clips clips, the next one indexed while the current is read)
reads what one pipeline over the whole pass reads: the same frames, labels and clip ids in the same order in
evaluation; each of the rank's samples once per epoch in training, shuffled per epoch; and a resume in the
middle of a later chunk yields exactly the remaining batches without reading the chunks before it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import dali_pipelines.loader as loader_module
from dali_pipelines.epoch_order import chunk_pieces, epoch_shard
from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.spec import Augmentation, FrameSampling, PipelineSpec
from lightning_fer.data.identity import split_identity
from lightning_fer.data.splits import ClipRange
from lightning_fer.prepare import read_manifest

STEP3 = FrameSampling(step=3)


@pytest.fixture(scope="module")
def ranges(small_prepared: Path) -> list[ClipRange]:
    manifest = read_manifest(small_prepared)
    return [ClipRange(str(small_prepared / r.clip), int(r.label_index), 0, int(r.frames), r.subject, r.video_id)
            for r in manifest.itertuples()]


def make(ranges, tmp: Path, chunk_clips: int, train: bool, batch: int, sampling: FrameSampling = FrameSampling(),
         shard: int = 0, shards: int = 1, epoch_fn=lambda: 0, augmentation: Augmentation = Augmentation(),
         identity=None) -> DaliFrameLoader:
    spec = PipelineSpec(entries=[(r.clip, i if identity else r.label, r.start, r.end) for i, r in enumerate(ranges)],
                        file_list=str(tmp / f"list-{train}-{chunk_clips}-{shard}.txt"), batch_size=batch,
                        sampling=sampling, augmentation=augmentation, shuffle=train, seed=5, shard_id=shard,
                        num_shards=shards)
    return DaliFrameLoader(spec, train=train, epoch_fn=epoch_fn, chunk_clips=chunk_clips,
                           entry_table=identity.entry_table() if identity else None)


def keys(batches) -> list[str]:
    return [hashlib.sha1(frame.numpy().tobytes()).hexdigest() for batch in batches for frame in batch[0]]


def test_chunks_hold_whole_batches_and_concatenate_to_the_pass() -> None:
    entries = [(f"c{i}.mp4", i % 6, 0, 10 + i % 7) for i in range(40)]
    pieces = epoch_shard(entries, STEP3, 0, 3, True, 1, 2)
    for batch, clips in ((1, 1), (4, 3), (7, 5), (16, 2)):
        chunks = chunk_pieces(pieces, batch, clips)
        assert [(i, s) for c in chunks for i, starts in c for s in starts] == \
            [(i, s) for i, starts in pieces for s in starts]  # nothing lost, nothing moved
        assert all(sum(len(s) for _, s in c) % batch == 0 for c in chunks[:-1])
        assert all(clips <= len(c) <= clips + batch for c in chunks[:-1]) and len(chunks) > 2
    assert chunk_pieces(pieces, 4, 0) == [pieces]


def test_eval_chunks_read_what_one_pipeline_reads(ranges, tmp_path: Path) -> None:
    """Frames, labels and clip ids identical, batch by batch (partial last batch included), on 2 shards."""
    identity = split_identity(ranges)
    for shard in (0, 1):
        whole = list(make(ranges, tmp_path, 0, False, 24, shard=shard, shards=2, identity=identity))
        loader = make(ranges, tmp_path, 2, False, 24, shard=shard, shards=2, identity=identity)
        assert len(loader._plan(0)) > 2
        for _ in range(2):  # a second pass rebuilds the chunks and reads the same
            chunked = list(loader)
            assert len(chunked) == len(whole) == len(loader)
            for a, b in zip(whole, chunked, strict=True):
                assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        assert chunked[-1][0].shape[0] < 24  # the shard's partial last batch is kept


def test_training_epoch_reads_each_sample_once_and_shuffles_per_epoch(ranges, tmp_path: Path) -> None:
    """Samples named through an evaluation pass: a chunked training epoch reads the rule's samples once each
    (all of them when the shard is whole batches), like one pipeline; the order changes with the epoch."""
    names = [(i, f) for i, r in enumerate(ranges) for f in range(r.start, r.end)]
    where = dict(zip(keys(make(ranges, tmp_path, 0, False, 32)), names, strict=True))
    entries = [(r.clip, r.label, r.start, r.end) for r in ranges]
    rule = set()
    for index, starts in epoch_shard(entries, STEP3, 5, 0, True, 0, 2):
        rule |= {(index, s) for s in starts}
    batch = next(b for b in (8, 6, 5, 4, 3, 2) if len(rule) % b == 0)
    epoch = {"value": 0}
    chunked = make(ranges, tmp_path, 2, True, batch, STEP3, 0, 2, lambda: epoch["value"])
    whole = make(ranges, tmp_path, 0, True, batch, STEP3, 0, 2, lambda: epoch["value"])
    assert len(chunked._plan(0)) > 2 and len(chunked) == len(whole) == len(rule) // batch
    read = [where[k] for k in keys(chunked)]
    assert sorted(read) == sorted(where[k] for k in keys(whole)) == sorted(rule)  # each sample exactly once
    assert read == [where[k] for k in keys(chunked)]  # (seed, epoch) fixes the order
    epoch["value"] = 1
    assert [where[k] for k in keys(chunked)] != read


def test_resume_in_a_later_chunk_yields_the_remaining_batches(ranges, tmp_path: Path, monkeypatch) -> None:
    """Augmented training, chunks of 2 clips: a state taken mid-way through the third chunk, loaded into a fresh
    loader, gives exactly the batches the first run had left; the chunks before it are never built."""
    def fresh():
        return make(ranges, tmp_path, 2, True, 4, STEP3, epoch_fn=lambda: 1,
                    augmentation=Augmentation(flip=True, rotate_degrees=10.0, brightness=0.2))

    first = fresh()
    plan = [batches for batches, _, _ in first._plan(1)]
    stop = plan[0] + plan[1] + 1  # one batch into the third chunk
    batches = iter(first)
    for _ in range(stop):
        next(batches)
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": stop, "seed": 5}
    rest = list(batches)
    assert len(rest) == len(first) - stop > 0
    built = []
    monkeypatch.setattr(loader_module, "_Chunk", lambda *a, _real=loader_module._Chunk: built.append(1) or _real(*a))
    second = fresh()
    second.load_state_dict(state)
    built.clear()
    resumed = list(second)
    assert len(built) == len(plan) - 2  # chunks 0 and 1 were skipped without a pipeline
    assert len(resumed) == len(rest)
    for (f, y), (g, z) in zip(rest, resumed, strict=True):
        assert torch.equal(f, g) and torch.equal(y, z)
    assert len(list(second)) == len(first)  # the skip applies to one pass only
