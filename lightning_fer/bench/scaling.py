"""`fer bench scaling`: DDP training throughput with 1 and N processes and the scaling efficiency.

    fer bench scaling --batch-size 16 --steps 12          # CPU: 1 and 2 processes (gloo), sharing the cores
    fer bench scaling --processes 1,2,4,8                 # GPUs: one process per GPU (NCCL)

Each point is a real `python -m lightning_fer.cli fit` (configs/demo.yaml, frame protocol, one epoch of
``warmup + steps`` steps, DALI sharded per rank) with the StepTimer callback. Throughput comes from the
trainer's own batch-end times, written per rank to ``step_times_rank<r>.json`` in the run directory, so
process start-up, DDP set-up and validation are not counted: img/s = processes x per-process batch x timed
steps / (slowest rank's time from the end of the last warm-up step to the end of the last step). This is weak
scaling (fixed per-process batch); efficiency = img/s(N) / (N x img/s(1)).
On CPU the cores are split between the processes (``OMP_NUM_THREADS = cores // N``), so the comparison keeps
the hardware fixed: N processes of cores/N threads against one process using every core. Runs are repeated,
interleaved (1, N, 1, N, ...), and the median reported, as shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl

from lightning_fer.atomic_write import write_text
from lightning_fer.bench.record import BenchResult
from lightning_fer.errors import UserError

NAME = "scaling"
HELP = "DDP training img/s with 1 and N processes (CPU: gloo, cores shared; GPU: one per GPU); efficiency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="prepared folder; default as in `fer bench data`")
    parser.add_argument("--config", default="configs/demo.yaml", help="LightningCLI config the runs start from")
    parser.add_argument("--processes", default=None,
                        help="comma-separated process counts; default 1,2 on CPU and 1,<GPUs> with GPUs")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per process per step")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, oneDNN, DALI, DDP)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per process count, interleaved (1,2,1,2...); the median img/s is reported")
    parser.add_argument("--keep", default=None, help="keep the run directories here (default: a temp dir)")


class StepTimer(pl.Callback):
    """Record ``time.perf_counter()`` at every training batch end; write them to step_times_rank<r>.json."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, *_args, **_kwargs) -> None:
        self.ends.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size, "batch_ends": self.ends}
        path = Path(trainer.default_root_dir) / f"step_times_rank{trainer.global_rank}.json"
        write_text(path, json.dumps(record))


def run(args: argparse.Namespace) -> BenchResult:
    import torch

    if args.warmup < 1 or args.steps < 1:
        raise UserError("--warmup and --steps must be at least 1")
    gpus = torch.cuda.device_count()
    counts = _process_counts(args.processes, gpus)
    if gpus and max(counts) > gpus:
        raise UserError(f"--processes {args.processes}: only {gpus} GPUs here")
    from lightning_fer.bench.data import default_data

    data = Path(args.data) if args.data else default_data()
    cores = os.cpu_count() or 1
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fer-bench-scaling-"))
    if args.repeats < 1:
        raise UserError("--repeats must be at least 1")
    runs: dict[int, list[dict]] = {n: [] for n in counts}
    for repeat in range(args.repeats):  # interleaved, so a burst of load from elsewhere hits every count alike
        for n in counts:
            threads = None if gpus else max(1, cores // n)
            point = measure(data, root / f"{n}proc-{repeat}", n, threads, args, gpu=bool(gpus))
            print(f"{n} process(es), run {repeat + 1}: {point['img_s']:.1f} img/s ({point['step_s']:.3f} s/step)")
            runs[n].append(point)
    points = []
    for n in counts:
        img_s = statistics.median(p["img_s"] for p in runs[n])
        points.append({**runs[n][0], "img_s": img_s, "step_s": n * args.batch_size / img_s})
    base = points[0]["img_s"] / counts[0]
    rows = [[p["processes"], p["threads"] or "-", args.batch_size, p["processes"] * args.batch_size, p["step_s"],
             p["img_s"], p["img_s"] / (p["processes"] * base)] for p in points]
    device = f"{gpus} GPUs, NCCL" if gpus else f"CPU, {cores} cores, gloo"
    notes = [f"`fer fit` ({args.config}, frame protocol, fp32 unless the config says otherwise) on {device}; "
             f"per-process batch {args.batch_size}; {args.warmup} warm-up steps untimed, {args.steps} timed from the "
             "trainer's batch-end times (StepTimer), slowest rank; start-up, DDP set-up and validation excluded",
             "efficiency = img/s / (processes x img/s per process of the first row): weak scaling",
             f"median of {args.repeats} interleaved runs per row; every run's img/s: "
             + "; ".join(f"{n}: " + ", ".join(f"{p['img_s']:.1f}" for p in runs[n]) for n in counts)]
    if not gpus:
        notes.append(f"CPU: the {cores} cores are split between the processes (OMP_NUM_THREADS = {cores} // N), "
                     "so this measures DDP on fixed hardware, not added hardware: above 1.0 only when N narrower "
                     "processes use the cores better than one wide one; gloo all-reduce of ResNet-50's gradients "
                     "and the DALI threads of every rank compete for the same cores")
    return BenchResult(
        name=NAME, title="DDP scaling: training throughput with 1 and N processes",
        columns=["processes", "threads/process", "batch/process", "global batch", "s/step", "img/s",
                 "scaling efficiency"],
        rows=rows, ratio=rows[-1][-1], ratio_label=f"scaling efficiency at {counts[-1]} processes", notes=notes,
    )


def measure(data: Path, run_dir: Path, processes: int, threads: int | None, args: argparse.Namespace,
            gpu: bool) -> dict:
    """One `fer fit` on `processes` ranks; throughput from the ranks' StepTimer records."""
    total = args.warmup + args.steps
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lightning_fer.cli", "fit", "--config", args.config, "--wandb", "false",
           "--data.data_dir", str(data), "--data.protocol", "frame", "--data.batch_size", str(args.batch_size),
           "--data.check_decode", "false", "--trainer.accelerator", "gpu" if gpu else "cpu",
           "--trainer.devices", str(processes), "--trainer.strategy", "ddp" if processes > 1 else "auto",
           "--trainer.max_epochs", "1", "--trainer.limit_train_batches", str(total),
           "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
           "--trainer.default_root_dir", str(run_dir), f"--trainer.callbacks+={__name__}.StepTimer"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"fer fit on {processes} process(es) failed ({run_dir}):\n{proc.stderr[-3000:]}")
    records = [json.loads(p.read_text()) for p in sorted(run_dir.glob("step_times_rank*.json"))]
    if len(records) != processes or any(len(r["batch_ends"]) < total for r in records):
        steps = [len(r["batch_ends"]) for r in records]
        raise UserError(f"{data}: expected {processes} ranks x {total} steps, got steps {steps}; "
                        "fewer training batches than --warmup + --steps per rank?")
    seconds = max(r["batch_ends"][total - 1] - r["batch_ends"][args.warmup - 1] for r in records)
    return {"processes": processes, "threads": threads, "step_s": seconds / args.steps,
            "img_s": processes * args.batch_size * args.steps / seconds}


def _process_counts(spec: str | None, gpus: int) -> list[int]:
    if spec is None:
        return [1, gpus] if gpus > 1 else [1, 2]
    try:
        counts = [int(c) for c in spec.split(",")]
    except ValueError as err:
        raise UserError(f"--processes {spec!r}: expected comma-separated integers like 1,2") from err
    if not counts or min(counts) < 1:
        raise UserError(f"--processes {spec!r}: counts must be >= 1")
    return counts
