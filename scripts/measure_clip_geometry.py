"""What 128-pixel clips and the keyframe interval cost the DALI CPU loader, side by side in one run.

    PYTHONPATH=$PWD .venv/bin/python scripts/measure_clip_geometry.py RAW_VIDEOS OUT [--rounds 5] [--gops 6 12 25]
        [--before TREE]     # also time the 112 clips with the pipeline of another checkout (e.g. git worktree)

Prepares RAW_VIDEOS (e.g. the demo's synthetic videos) once per variant: 112-pixel clips (the layout before
issue 24) and 128-pixel clips at each keyframe interval. Then, alternating the variants round by round, it
times one evaluation pass (every frame, file order) and one training pass (shuffled runs of 4 frames, a new
run every 4 frames: a seek per sample) of the DALI CPU loader with 2 threads, and prints the median frames/s,
the spread over rounds, each ratio to the 112 clips, and the clips' bytes. Both sides feed the model the same
112 x 112 frames: the 128 clips are centre-cropped in the pipeline. Each pass runs in a fresh process with the
checkout's code first on sys.path (timed inside it, imports excluded), so ``--before`` compares two versions of
the pipeline in one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lightning_fer.prepare import PrepareParams, read_manifest, run_prepare

REPO = Path(__file__).resolve().parents[1]
PASS = """
import json, sys, time
sys.path.insert(0, {tree!r})
from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.spec import FrameSampling, PipelineSpec
sampling = FrameSampling(4, 1, 4) if {train} else FrameSampling()
extra = {{"clip_size": {clip_size}}} if {clip_size} != 112 else {{}}  # checkouts before 128-px clips lack it
spec = PipelineSpec(entries=[tuple(e) for e in json.load(open({entries!r}))], file_list={file_list!r},
                    batch_size=32 // sampling.sequence_length, sampling=sampling, shuffle={train}, num_threads=2,
                    **extra)
start = time.perf_counter()
frames = sum(len(batch[0]) for batch in DaliFrameLoader(spec, train={train}, epoch_fn=lambda: {epoch}))
print(frames / (time.perf_counter() - start))
"""


def prepared(raw: Path, out: Path, params: PrepareParams) -> tuple[list[tuple[str, int, int, int]], int]:
    """(file-list entries, clip bytes) of RAW prepared with ``params`` (reused when already there)."""
    if not (out / "manifest.csv").is_file():
        run_prepare(raw, out, params, workers=2, progress=False)
    manifest = read_manifest(out)
    entries = [(str((out / r.clip).resolve()), int(r.label_index), 0, int(r.frames)) for r in manifest.itertuples()]
    return entries, sum((out / r.clip).stat().st_size for r in manifest.itertuples())


def one_pass(tree: Path, entries: str, clip_size: int, train: bool, tmp: str, epoch: int) -> float:
    """Frames/s of one fresh pass with ``tree``'s pipeline (built inside the timing, as each training epoch is)."""
    code = PASS.format(tree=str(tree), train=train, clip_size=clip_size, entries=entries, epoch=epoch,
                       file_list=f"{tmp}/{clip_size}-{train}-{epoch}.txt")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gops", type=int, nargs="+", default=[6, 12, 25])
    parser.add_argument("--before", type=Path, default=None, help="another checkout: its pipeline on the 112 clips")
    args = parser.parse_args()
    base_name = "112 px, gop 12"
    variants = {base_name: (PrepareParams(clip_size=112), 112, REPO)}
    if args.before:
        variants[f"112 px, gop 12, {args.before.name}"] = (PrepareParams(clip_size=112), 112, args.before.resolve())
    variants.update({f"128 px, gop {g}": (PrepareParams(gop=g), 128, REPO) for g in args.gops})
    data = {name: prepared(args.raw, args.out / f"{params.clip_size}px-gop{params.gop}", params)
            for name, (params, _, _) in variants.items()}
    timings = {(name, train): [] for name in variants for train in (False, True)}
    with tempfile.TemporaryDirectory() as tmp:
        lists = {}
        for name, (entries, _) in data.items():
            lists[name] = f"{tmp}/{len(lists)}.json"
            Path(lists[name]).write_text(json.dumps(entries))
        for round_ in range(args.rounds + 1):  # round 0 warms the page cache and DALI's libraries
            for name, (_, side, tree) in variants.items():
                for train in (False, True):
                    fps = one_pass(tree, lists[name], side, train, tmp, round_)
                    if round_:
                        timings[name, train].append(fps)
    base = {train: statistics.median(timings[base_name, train]) for train in (False, True)}
    print(f"{len(data[base_name][0])} clips; median of {args.rounds} alternating rounds (min-max)")
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
