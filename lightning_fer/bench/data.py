"""`fer bench data`: frames/s of the DALI pipeline vs the baseline loader (PyAV + NumPy/OpenCV reference)
on the same clips with the same number of CPU threads, for evaluation (every frame, file order) and for
training (shuffled runs of frames), in one run.

    fer bench data --data data/demo/prepared --threads 2

Both loaders are timed as training uses them: a fresh pass per epoch (the DALI training pipeline is
rebuilt each epoch with the epoch's seed, the baseline DataLoader starts its workers each epoch).
The two sides alternate epoch by epoch so that load from other processes hits both alike; the
median epoch is reported. With ``--device gpu`` (the default ``auto`` on a CUDA machine) the GPU pipeline
(CPU decode, GPU operators, batches left on the device) is timed beside them:

    fer bench data --device gpu --batch-size 256 --threads 4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lightning_fer.bench.record import BenchResult

NAME = "data"
HELP = "frames/s: DALI pipeline vs baseline loader (PyAV + reference), same clips and threads"
DEFAULT_DATA = "data/demo/prepared"  # what `make demo` prepares
DEFAULT_CACHE = ".cache/bench/data"  # generated here (once) when DEFAULT_DATA is missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None,
                        help=f"prepared folder (manifest.csv); default {DEFAULT_DATA}, else a synthetic set "
                             f"generated once into {DEFAULT_CACHE}")
    parser.add_argument("--threads", type=int, default=2, help="DALI threads = baseline DataLoader workers")
    parser.add_argument("--batch-size", type=int, default=32, help="frames per batch")
    parser.add_argument("--sequence-length", type=int, default=4, help="training: frames per sampled run")
    parser.add_argument("--step", type=int, default=4, help="training: a new run every STEP frames")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per side (after one warm-up)")
    parser.add_argument("--max-clips", type=int, default=0, help="use at most this many clips (0: all)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"),
                        help="gpu adds the DALI GPU pipeline (CPU decode + GPU operators) beside DALI CPU and the "
                             "baseline; auto: gpu when CUDA is present")


def run(args: argparse.Namespace) -> BenchResult:
    import torch

    from dali_pipelines.spec import NVDEC_MIN_SIDE, FrameSampling
    from lightning_fer.bench.device import resolve_device
    from lightning_fer.video_io import video_info

    gpu = resolve_device(args.device) == "gpu"
    data = Path(args.data) if args.data else default_data()
    ranges = load_ranges(data, args.max_clips)
    modes = [("evaluation (every frame)", FrameSampling(), False),
             (f"training (shuffled, seq {args.sequence_length}, step {args.step})",
              FrameSampling(args.sequence_length, 1, args.step), True)]
    clip_side = video_info(ranges[0].clip).width
    sides = [("DALI CPU", None, False)]  # (row name, device id, NVDEC decode)
    if gpu:
        sides.append(("DALI GPU", 0, True))  # NVDEC decodes clips of 128 and up; smaller ones decode on the CPU
        if clip_side >= NVDEC_MIN_SIDE:
            sides.append(("DALI GPU, CPU decode", 0, False))
    rows, ratios = [], {}
    with tempfile.TemporaryDirectory(prefix="fer-bench-data-") as tmp:
        for label, sampling, train in modes:
            makers = {"baseline (PyAV + reference)": lambda s=sampling, t=train: baseline_loader(
                ranges, s, t, args.batch_size, args.threads)}
            for name, device, nvdec in sides:
                makers[name] = lambda s=sampling, t=train, d=device, n=name, v=nvdec: dali_loader(
                    ranges, s, t, args.batch_size, args.threads, d, f"{tmp}/{n.replace(' ', '-')}-{t}.txt", v)
            results = time_alternating(makers, args.epochs, sync=torch.cuda.synchronize if gpu else None)
            base = results["baseline (PyAV + reference)"][0]
            for name, (fps, frames) in results.items():
                rows.append([label, name, args.threads, frames, fps, fps / base])
            ratios[label] = results["DALI CPU"][0] / base
            if gpu:
                ratios[f"GPU {label}"] = results["DALI GPU"][0] / base
                if "DALI GPU, CPU decode" in results:
                    ratios[f"NVDEC {label}"] = results["DALI GPU"][0] / results["DALI GPU, CPU decode"][0]
            print(f"{label}: " + ", ".join(f"{n} {r[0]:,.0f} frames/s" for n, r in results.items()))
    headline = ratios[modes[0][0]]
    return BenchResult(  # with the GPU rows, a section of its own in docs/BENCHMARKS.md (data-gpu)
        name=f"{NAME}-gpu" if gpu else NAME, title="Data loading: DALI vs baseline" + (" (GPU)" if gpu else ""),
        columns=["mode", "loader", "threads", "frames/epoch", "frames/s", "vs baseline"], rows=rows,
        ratio=headline, ratio_label="DALI CPU / baseline, evaluation",
        notes=[f"training: DALI CPU / baseline {ratios[modes[1][0]]:.2f}x",
               *[f"DALI GPU / baseline, {label}: {ratios['GPU ' + label]:.2f}x" for label, _, _ in modes if gpu],
               *[f"DALI GPU, NVDEC / CPU decode, {label}: {ratios['NVDEC ' + label]:.2f}x" for label, _, _ in modes
                 if f"NVDEC {label}" in ratios],
               f"{len(ranges)} clips, {sum(r.frames for r in ranges)} frames of "
               f"{clip_side}-pixel VP9 from {data}; batch "
               f"{args.batch_size} frames; median of {args.epochs} epochs after a warm-up, sides alternating",
               load_note(),
               "baseline: torch DataLoader, THREADS workers, whole-clip PyAV decode in order (evaluation) or "
               "a prefix decode per sampled run (training), NumPy/OpenCV reference preprocessing"],
    )


def time_alternating(makers: dict[str, Callable[[], Iterable]], epochs: int,
                     sync: Callable[[], None] | None = None) -> dict[str, tuple[float, int]]:
    """Median frames/s per loader and frames per epoch; one warm-up epoch each, then sides take turns."""
    loaders = {name: make() for name, make in makers.items()}
    frames = {name: _epoch(loader, sync)[0] for name, loader in loaders.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(epochs):
        for name, loader in loaders.items():
            count, seconds = _epoch(loader, sync)
            if count != frames[name]:
                raise RuntimeError(f"{name}: {count} frames this epoch, {frames[name]} in the warm-up")
            times[name].append(seconds)
    return {name: (frames[name] / statistics.median(times[name]), frames[name]) for name in loaders}


def _epoch(loader: Iterable, sync: Callable[[], None] | None) -> tuple[int, float]:
    start, count = time.perf_counter(), 0
    for frames, _ in loader:
        count += frames.shape[0]
    if sync is not None:
        sync()
    return count, time.perf_counter() - start


def load_ranges(data: Path, max_clips: int = 0):
    """Every clip of a prepared folder as a whole-clip range (no split: the benchmark reads them all)."""
    from lightning_fer.data.splits import SplitConfig, make_splits
    from lightning_fer.prepare import read_manifest

    manifest = read_manifest(data)
    if max_clips:
        manifest = manifest.head(max_clips)
    splits = make_splits(manifest, SplitConfig("video", 0.0, 0.0), clip_root=str(data.resolve()))
    return splits["train"]


def dali_loader(ranges, sampling, train: bool, batch_size: int, threads: int, device_id: int | None,
                file_list: str, nvdec: bool = False):
    from dali_pipelines.loader import DaliFrameLoader
    from dali_pipelines.spec import PipelineSpec
    from lightning_fer.video_io import video_info

    spec = PipelineSpec(entries=[(r.clip, r.label, r.start, r.end) for r in ranges], file_list=file_list,
                        batch_size=batch_size // sampling.sequence_length, sampling=sampling, shuffle=train,
                        device_id=device_id, num_threads=threads, clip_size=video_info(ranges[0].clip).width,
                        nvdec=nvdec)
    epoch = iter(range(1_000_000))  # a new epoch per pass: the training pipeline is rebuilt, as in fit
    return DaliFrameLoader(spec, train=train, epoch_fn=lambda: next(epoch))


def baseline_loader(ranges, sampling, train: bool, batch_size: int, workers: int):
    from dali_pipelines.spec import Normalization
    from lightning_fer.data.baseline import BaselineFrameLoader, ClipFrameDataset

    dataset = ClipFrameDataset(ranges, sampling, Normalization(), shuffle=train, seed=0)
    return BaselineFrameLoader(dataset, batch_size // sampling.sequence_length, train, workers)


def default_data() -> Path:
    demo = Path(DEFAULT_DATA)
    return demo if (demo / "manifest.csv").is_file() else ensure_demo_data(Path(DEFAULT_CACHE))


def ensure_demo_data(cache: Path, children: int = 6, videos_per_class: int = 2, seconds: float = 3.0) -> Path:
    """A prepared synthetic set in ``cache``, the demo's size (generated once, ~2 minutes on 2 cores)."""
    from lightning_fer.prepare import PrepareParams, run_prepare
    from lightning_fer.synth.dataset import generate_dataset

    prepared = cache / "prepared"
    if not (prepared / "manifest.csv").is_file():
        print(f"generating benchmark data into {cache} (once)")
        generate_dataset(cache / "raw", children=children, videos_per_class=videos_per_class, seconds=seconds)
        run_prepare(cache / "raw" / "videos", prepared, PrepareParams())
    return prepared


def load_note() -> str:
    """Shared machines: say how busy the machine was, since absolute figures depend on it."""
    import os

    one, five, _ = os.getloadavg()
    return f"load average at the end of the run: {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"
