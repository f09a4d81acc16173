"""`fer bench train`: training img/s of the real FERModule on CPU fed by the DALI data module vs fed by
in-memory tensors of the same shape, in one run, plus the data-wait share of the DALI-fed steps.

    fer bench train --data data/demo/prepared --batch-size 16 --steps 24

Both runs use a Lightning Trainer (CPU, fp32, no validation, no logging) for ``warmup + steps``
steps; only the last ``steps`` are timed. Step time is the interval between consecutive batch ends
(data wait + forward/backward/optimizer + Lightning overhead). Data wait is the time spent inside
the loader's ``next()``, measured by wrapping the iterator Lightning pulls from; its share of step
time is what the DALI prefetch queue should keep near zero (the design aims for < 5%).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from lightning_fer.bench.record import BenchResult
from lightning_fer.errors import UserError

NAME = "train"
HELP = "training img/s on CPU: FERModule fed by DALI vs in-memory tensors; data-wait share"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="prepared folder; default as in `fer bench data`")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per step")
    parser.add_argument("--steps", type=int, default=24, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, oneDNN, DALI)")
    parser.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
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
    """``batches`` fixed random batches of the DALI loader's shape and dtypes, already in memory."""

    def __init__(self, batch_size: int, batches: int, seed: int) -> None:
        import torch

        generator = torch.Generator().manual_seed(seed)
        self.data = [(torch.rand(batch_size, 1, 112, 112, generator=generator),
                      torch.randint(0, 6, (batch_size,), generator=generator)) for _ in range(batches)]

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator:
        return iter(self.data)


def run(args: argparse.Namespace) -> BenchResult:
    from lightning_fer.bench.data import default_data, load_note
    from lightning_fer.data.datamodule import FERDataModule

    if args.warmup < 1 or args.steps < 1:
        raise UserError("--warmup and --steps must be at least 1")
    data = Path(args.data) if args.data else default_data()
    total = args.warmup + args.steps
    module = FERDataModule(data_dir=str(data), protocol="frame", val_fraction=0.1, test_fraction=0.1,
                           batch_size=args.batch_size, num_threads=args.threads, device="cpu", seed=args.seed,
                           check_decode=False)
    module.setup("fit")
    dali = TimedLoader(module.train_dataloader())
    if len(dali) < total:
        raise UserError(f"{data}: only {len(dali)} training batches of {args.batch_size}; need {total}")
    memory = TimedLoader(InMemoryLoader(args.batch_size, total, args.seed))
    results = {}
    for name, loader in (("in-memory tensors", memory), ("DALI data module (CPU)", dali)):
        results[name] = train_steps(loader, args)
        print(f"{name}: {results[name]['img_s']:.1f} img/s, data wait {results[name]['wait_share']:.1%}")
    base = results["in-memory tensors"]["img_s"]
    rows = [[name, args.batch_size, args.steps, r["step_s"], r["img_s"], r["img_s"] / base, f"{r['wait_share']:.2%}"]
            for name, r in results.items()]
    wait = results["DALI data module (CPU)"]["wait_share"]
    return BenchResult(
        name=NAME, title="Training throughput: DALI-fed vs in-memory (CPU)",
        columns=["fed by", "batch", "timed steps", "s/step", "img/s", "vs in-memory", "data-wait share"],
        rows=rows, ratio=results["DALI data module (CPU)"]["img_s"] / base,
        ratio_label="DALI-fed / in-memory img/s",
        notes=[f"data-wait share of step time, DALI-fed: {wait:.2%} (aim < 5%)",
               load_note(),
               f"FERModule (paper ResNet-50, Adam), fp32, 1 x 112 x 112; {args.warmup} warm-up steps untimed; "
               f"DALI: frame protocol train split of {data}, {args.threads} threads, sharing the CPU cores "
               "with the training step"],
    )


def train_steps(loader: TimedLoader, args: argparse.Namespace) -> dict[str, float]:
    """Fit a fresh FERModule for warmup + steps batches; time the last ``steps`` batch-end to batch-end."""
    import pytorch_lightning as pl
    import torch

    from lightning_fer.module import FERModule

    pl.seed_everything(args.seed, verbose=False)
    ends: list[float] = []

    class StepClock(pl.Callback):
        def on_train_batch_end(self, *_args, **_kwargs) -> None:
            ends.append(time.perf_counter())

    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=args.warmup + args.steps, max_epochs=1,
                         limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[StepClock()])
    loader.waits.clear()
    trainer.fit(FERModule(optimizer=torch.optim.Adam), train_dataloaders=loader)
    start, stop = ends[args.warmup - 1], ends[-1]
    seconds = stop - start
    steps = len(ends) - args.warmup
    waited = sum(w for t, w in loader.waits if start <= t < stop)
    return {"step_s": seconds / steps, "img_s": steps * args.batch_size / seconds, "wait_share": waited / seconds}
