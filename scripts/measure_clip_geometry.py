"""What 128-pixel clips and the keyframe interval cost the DALI CPU loader, side by side in one run.

    PYTHONPATH=$PWD .venv/bin/python scripts/measure_clip_geometry.py RAW_VIDEOS OUT [--rounds 5] [--gops 6 12 25]

Prepares RAW_VIDEOS (e.g. the demo's synthetic videos) once per variant: 112-pixel clips (the layout before
issue 24) and 128-pixel clips at each keyframe interval. Then, alternating the variants round by round, it
times one evaluation pass (every frame, file order) and one training pass (shuffled runs of 4 frames, a new
run every 4 frames: a seek per sample) of the DALI CPU loader with 2 threads, and prints the median frames/s,
the spread over rounds, each ratio to the 112 clips, and the clips' bytes. Both sides feed the model the same
112 x 112 frames: the 128 clips are centre-cropped in the pipeline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.spec import FrameSampling, PipelineSpec
from lightning_fer.prepare import PrepareParams, read_manifest, run_prepare

TRAIN = FrameSampling(sequence_length=4, stride=1, step=4)


def prepared(raw: Path, out: Path, params: PrepareParams) -> tuple[list[tuple[str, int, int, int]], int]:
    """(file-list entries, clip bytes) of RAW prepared with ``params`` (reused when already there)."""
    if not (out / "manifest.csv").is_file():
        run_prepare(raw, out, params, workers=2, progress=False)
    manifest = read_manifest(out)
    entries = [(str((out / r.clip).resolve()), int(r.label_index), 0, int(r.frames)) for r in manifest.itertuples()]
    return entries, sum((out / r.clip).stat().st_size for r in manifest.itertuples())


def one_pass(entries, clip_size: int, train: bool, tmp: str, epoch: int) -> float:
    """Frames/s of one fresh pass (the pipeline built inside the timing, as each training epoch does)."""
    sampling = TRAIN if train else FrameSampling()
    spec = PipelineSpec(entries=entries, file_list=f"{tmp}/{clip_size}-{train}-{epoch}.txt",
                        batch_size=32 // sampling.sequence_length, sampling=sampling, shuffle=train,
                        clip_size=clip_size, num_threads=2)
    start = time.perf_counter()
    frames = sum(len(batch[0]) for batch in DaliFrameLoader(spec, train=train, epoch_fn=lambda: epoch))
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gops", type=int, nargs="+", default=[6, 12, 25])
    args = parser.parse_args()
    variants = {"112 px, gop 12": (PrepareParams(clip_size=112), 112)}
    variants.update({f"128 px, gop {g}": (PrepareParams(gop=g), 128) for g in args.gops})
    data = {name: prepared(args.raw, args.out / name.replace(" ", "").replace(",", "-"), params)
            for name, (params, _) in variants.items()}
    timings = {(name, train): [] for name in variants for train in (False, True)}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds + 1):  # round 0 warms the page cache and DALI's libraries
            for name, (_, side) in variants.items():
                for train in (False, True):
                    fps = one_pass(data[name][0], side, train, tmp, round_)
                    if round_:
                        timings[name, train].append(fps)
    base = {train: statistics.median(timings["112 px, gop 12", train]) for train in (False, True)}
    print(f"{len(data['112 px, gop 12'][0])} clips; median of {args.rounds} alternating rounds (min-max)")
    print("| clips | evaluation frames/s | vs 112 | training frames/s | vs 112 | clip MB |")
    print("|---|---|---|---|---|---|")
    for name in variants:
        cells = []
        for train in (False, True):
            values = timings[name, train]
            median = statistics.median(values)
            cells += [f"{median:,.0f} ({min(values):,.0f}-{max(values):,.0f})", f"{median / base[train]:.2f}x"]
        print(f"| {name} | {' | '.join(cells)} | {data[name][1] / 1e6:.2f} |")


if __name__ == "__main__":
    main()
