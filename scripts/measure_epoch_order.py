"""How much the DALI training loader's sample order and each rank's subset change between epochs.

    PYTHONPATH=$PWD .venv/bin/python scripts/measure_epoch_order.py [--samples 4000] [--per-entry 1 25]

A throwaway file list over one synthetic noise clip: entry i carries label i, so (label, frame hash)
names every sample. Reported per layout (samples per entry): Spearman rank correlation of the positions of
the samples common to epochs 0 and 1 (one rank), and the share of rank 0's epoch-0 samples that rank 0
reads again in epoch 1 (two ranks; 0.5 expected for a fresh random half).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np

from dali_pipelines.epoch_order import spearman
from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.spec import PipelineSpec
from lightning_fer.video_io import write_video

CLIP_FRAMES = 100


def samples(loader: DaliFrameLoader) -> list[tuple[int, str]]:
    out = []
    for frames, labels in loader:
        for frame, label in zip(frames.numpy(), labels.tolist(), strict=True):
            out.append((label, hashlib.sha1(frame.tobytes()).hexdigest()))
    return out


def measure(clip: Path, tmp: Path, total: int, per_entry: int, batch: int) -> tuple[float, float]:
    entries = [(str(clip), i, (i * per_entry) % CLIP_FRAMES, (i * per_entry) % CLIP_FRAMES + per_entry)
               for i in range(total // per_entry)]

    def run(epoch: int, shard: int, shards: int) -> list[tuple[int, str]]:
        spec = PipelineSpec(entries=entries, file_list=str(tmp / f"list-{shard}.txt"), batch_size=batch,
                            shuffle=True, seed=0, shard_id=shard, num_shards=shards)
        return samples(DaliFrameLoader(spec, train=True, epoch_fn=lambda: epoch))

    first, second = run(0, 0, 1), run(1, 0, 1)
    where = {s: i for i, s in enumerate(second)}
    common = [s for s in first if s in where]
    rho = spearman([first.index(s) for s in common], [where[s] for s in common])
    rank0 = [set(run(epoch, 0, 2)) for epoch in (0, 1)]
    return float(rho), len(rank0[0] & rank0[1]) / len(rank0[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--per-entry", type=int, nargs="+", default=[1, 25])
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        noise = np.random.default_rng(0).integers(0, 256, (CLIP_FRAMES, 32, 32, 3), dtype=np.uint8)
        write_video(tmp / "noise.webm", noise, gop=CLIP_FRAMES)
        for per_entry in args.per_entry:
            rho, overlap = measure(tmp / "noise.webm", tmp, args.samples, per_entry, args.batch)
            print(f"{args.samples} samples, {per_entry} per entry: Spearman(epoch 0, epoch 1) = {rho:.3f}, "
                  f"rank 0 of 2 keeps {overlap:.1%} of its samples")


if __name__ == "__main__":
    main()
