"""`fer bench train`: training img/s of the real FERModule fed by DALI vs fed by in-memory tensors, in one run,
plus the data-wait share of each and the share of the device's compute peak the step reaches.

    fer bench train --data data/demo/prepared                    # CPU: batch 16, fp32
    fer bench train --device gpu --batch-size 256,512,1024       # GPU: bf16-mixed, channels_last

Every side is a Lightning Trainer (no validation, no logging) run for ``warmup + steps`` steps; only the
last ``steps`` are timed, from batch end to batch end (data wait + forward/backward/optimizer + Lightning
overhead; on a GPU each batch end waits for the device, so the intervals cover the queued work). Data wait
is the time inside the loader's ``next()``; its share of step time is what DALI's prefetching should keep
near zero (the design aims for < 5%). The sides, per batch size:

- in-memory tensors: a few fixed random batches already on the device (the model's ceiling);
- DALI: the pipeline `fer fit` uses (every clip of the prepared folder, shuffled, repeated as needed to
  fill the timed steps), decoding on the CPU and preprocessing on the GPU with ``--device gpu``;
- DALI decoded once into a frame cache on the device (lightning_fer.data.frame_cache): the fix to use
  if the video decoder cannot keep up with the model at large batches.

img/s x 6.36 GFLOP per trained image (bench/device.py) / the matmul peak measured in the same run gives
the fraction of the device that training uses; the vendor's bf16 peak is quoted beside it for known GPUs.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from lightning_fer.bench.record import BenchResult
from lightning_fer.errors import UserError

NAME = "train"
HELP = "training img/s (CPU or GPU): FERModule fed by DALI vs in-memory tensors; data-wait share; peak share"
FEEDS = ("memory", "dali", "cache")
FEED_LABELS = {"memory": "in-memory tensors", "dali": "DALI", "cache": "DALI once -> frame cache"}
DEFAULT_BATCHES = {"cpu": "16", "gpu": "256,512,1024"}
DEFAULT_PRECISION = {"cpu": "32-true", "gpu": "bf16-mixed"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="prepared folder; default as in `fer bench data`")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"),
                        help="where the model trains and DALI decodes (auto: gpu with CUDA)")
    parser.add_argument("--batch-size", default=None,
                        help="frames per step, comma-separated for several (default: 16 on CPU, 256,512,1024 on GPU)")
    parser.add_argument("--steps", type=int, default=24, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, cuDNN, DALI)")
    parser.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
    parser.add_argument("--precision", default=None,
                        help="Lightning precision (default: 32-true on CPU, bf16-mixed on GPU)")
    parser.add_argument("--channels-last", default=None, action=argparse.BooleanOptionalAction,
                        help="channels_last model and inputs (default: on for GPU, off for CPU)")
    parser.add_argument("--feeds", default=",".join(FEEDS), help=f"comma-separated subset of {','.join(FEEDS)}")
    parser.add_argument("--seed", type=int, default=0)


class TimedLoader:
    """Wraps a loader; records (start, seconds) of every ``next()`` so waits can be summed per window."""

    def __init__(self, loader: Iterable) -> None:
        self.loader = loader
        self.waits: list[tuple[float, float]] = []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        iterator = iter(self.loader)
        while True:
            start = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            self.waits.append((start, time.perf_counter() - start))
            yield batch


class InMemoryLoader:
    """``batches`` batches of the DALI loader's shape and dtypes, cycling over a few random ones held on ``device``."""

    def __init__(self, batch_size: int, batches: int, seed: int, device: str = "cpu", distinct: int = 4) -> None:
        import torch

        generator = torch.Generator().manual_seed(seed)
        self.batches = batches
        self.data = [(torch.rand(batch_size, 1, 112, 112, generator=generator).to(device),
                      torch.randint(0, 6, (batch_size,), generator=generator).to(device))
                     for _ in range(min(distinct, batches))]

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator:
        return (self.data[i % len(self.data)] for i in range(self.batches))


def run(args: argparse.Namespace) -> BenchResult:
    from lightning_fer.bench import device as dev
    from lightning_fer.bench.data import default_data, load_note

    if args.warmup < 1 or args.steps < 1:
        raise UserError("--warmup and --steps must be at least 1")
    device = dev.resolve_device(args.device)
    batches = parse_batches(args.batch_size or DEFAULT_BATCHES[device])
    feeds = parse_feeds(args.feeds)
    precision = args.precision or DEFAULT_PRECISION[device]
    channels_last = device == "gpu" if args.channels_last is None else args.channels_last
    data = Path(args.data) if args.data else default_data()
    peak, peak_dtype = dev.measured_matmul_peak(device)
    nominal = dev.nominal_peak(device)
    print(f"{dev.device_name(device)}: {_tflops(peak)} TFLOP/s measured ({peak_dtype} matmul)")
    rows, notes, img_s = [], [], {}
    with tempfile.TemporaryDirectory(prefix="fer-bench-train-") as tmp:
        for batch in batches:
            for feed in feeds:
                try:
                    loader = make_feed(feed, data, batch, args, device, f"{tmp}/{feed}-{batch}.txt")
                except ImportError as err:  # a GPU image without DALI (scripts/gpu_check.sh tier 1)
                    notes.append(f"{FEED_LABELS[feed]} skipped: {err}")
                    continue
                result = train_steps(TimedLoader(loader), batch, args, device, precision, channels_last)
                img_s[(feed, batch)] = result["img_s"]
                base = img_s.get(("memory", batch))
                rows.append([FEED_LABELS[feed], batch, result["step_s"], result["img_s"],
                             result["img_s"] / base if base else "-", f"{result['wait_share']:.2%}",
                             _share(dev.peak_fraction(result["img_s"], peak)),
                             _share(dev.peak_fraction(result["img_s"], nominal))])
                print(f"{FEED_LABELS[feed]}, batch {batch}: {result['img_s']:,.1f} img/s, "
                      f"data wait {result['wait_share']:.1%}")
                del loader
    if not rows:
        raise UserError("no feed could run (see the notes above)")
    largest = max(b for _, b in img_s)
    ratio = img_s.get(("dali", largest), 0) / img_s[("memory", largest)] if ("memory", largest) in img_s and \
        ("dali", largest) in img_s else None
    notes = [f"{dev.device_name(device)}, precision {precision}, channels_last {channels_last}; "
             f"{args.warmup} warm-up steps untimed, {args.steps} timed per row",
             f"peak: {_tflops(peak)} TFLOP/s measured ({peak_dtype} {8192 if device == 'gpu' else 512}^3 matmul)"
             + (f", vendor dense bf16 {nominal / 1e12:,.0f} TFLOP/s" if nominal else "")
             + f"; a trained image costs {dev.TRAIN_FLOP_PER_IMAGE / 1e9:.2f} GFLOP (3 x 2 x 1.06 GMAC)",
             f"DALI: every clip of {data}, shuffled, {args.threads} CPU threads, "
             + ("VP9 decoded on the CPU, preprocessed by GPU operators" if device == "gpu"
                else "decode + preprocess on the CPU, sharing the cores with the training step"),
             load_note(), *notes]
    return BenchResult(  # a section of its own per device in docs/BENCHMARKS.md: train (CPU), train-gpu
        name=NAME if device == "cpu" else f"{NAME}-gpu", title=f"Training throughput: DALI-fed vs in-memory "
        f"({device.upper()})",
        columns=["fed by", "batch", "s/step", "img/s", "vs in-memory", "data-wait share", "of measured peak",
                 "of vendor peak"],
        rows=rows, ratio=ratio, ratio_label=f"DALI-fed / in-memory img/s at batch {largest}", notes=notes,
    )


def make_feed(feed: str, data: Path, batch: int, args: argparse.Namespace, device: str, file_list: str):
    """The loader for one side; ImportError when it needs DALI and DALI is not installed."""
    from lightning_fer.bench import device as dev

    total = args.warmup + args.steps
    if feed == "memory":
        return InMemoryLoader(batch, total, args.seed, str(dev.torch_device(device)))
    from dali_pipelines.spec import FrameSampling
    from lightning_fer.bench.data import dali_loader, load_ranges
    from lightning_fer.data.frame_cache import FrameCache

    ranges = load_ranges(data)
    frames = sum(r.frames for r in ranges)
    device_id = 0 if device == "gpu" else None
    if feed == "cache":
        once = dali_loader(ranges, FrameSampling(), False, batch, args.threads, device_id, file_list)
        return FrameCache(once, batch, dev.torch_device(device), seed=args.seed)
    repeat = math.ceil(total * batch / frames)  # one shuffled epoch covers every timed step
    return dali_loader(ranges * repeat, FrameSampling(), True, batch, args.threads, device_id, file_list)


def train_steps(loader: TimedLoader, batch: int, args: argparse.Namespace, device: str = "cpu",
                precision: str = "32-true", channels_last: bool = False) -> dict[str, float]:
    """Fit a fresh FERModule for warmup + steps batches of ``batch`` frames; time the last ``steps`` batch-end
    to batch-end."""
    import pytorch_lightning as pl
    import torch

    from lightning_fer.bench.device import synchronize
    from lightning_fer.module import FERModule

    pl.seed_everything(args.seed, verbose=False)
    ends: list[float] = []

    class StepClock(pl.Callback):
        def on_train_batch_end(self, *_args, **_kwargs) -> None:
            synchronize(device)
            ends.append(time.perf_counter())

    total = args.warmup + args.steps
    trainer = pl.Trainer(accelerator=device, devices=1, precision=precision, max_steps=total, max_epochs=None,
                         limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, benchmark=device == "gpu",
                         callbacks=[StepClock()])
    loader.waits.clear()
    trainer.fit(FERModule(optimizer=torch.optim.Adam, channels_last=channels_last), train_dataloaders=loader)
    if len(ends) < total:
        raise UserError(f"only {len(ends)} training steps ran; need {total}")
    start, stop = ends[args.warmup - 1], ends[-1]
    seconds = stop - start
    steps = len(ends) - args.warmup
    waited = sum(w for t, w in loader.waits if start <= t < stop)
    return {"step_s": seconds / steps, "img_s": steps * batch / seconds, "wait_share": waited / seconds}


def parse_batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise UserError(f"--batch-size {text!r}: expected integers like 256,512") from err
    if not values or min(values) < 1:
        raise UserError(f"--batch-size {text!r}: batch sizes must be >= 1")
    return values


def parse_feeds(text: str) -> list[str]:
    feeds = [f.strip() for f in text.split(",") if f.strip()]
    unknown = sorted(set(feeds) - set(FEEDS))
    if unknown or not feeds:
        raise UserError(f"--feeds {text!r}: expected a comma-separated subset of {','.join(FEEDS)}")
    return [f for f in FEEDS if f in feeds]  # in-memory first: it is the base of the ratios


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _tflops(flops: float) -> str:
    return f"{flops / 1e12:,.1f}" if flops >= 1e13 else f"{flops / 1e12:.3g}"
