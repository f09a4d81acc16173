"""Lightning callback that reports each epoch's validation metrics to Ray Tune.

Reports after the epoch's checkpoints are written (train epoch end), without a Tune checkpoint: the trial's
run directory already holds best.ckpt/last.ckpt, and copying a ResNet-50 into Tune's storage every epoch
would double the I/O. Every report is also appended to ``<default_root_dir>/epochs.jsonl``, the trial's own
history that the results and a resumed experiment read.

In a multi-worker trial (a Ray Train job, :mod:`lightning_fer.ray_train`) :class:`TrainReport` takes its place:
every rank calls ``ray.train.report`` (a barrier across the ranks), and Ray passes rank 0's metrics, already
reduced over all ranks by the module's torchmetrics, on to Tune.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import pytorch_lightning as pl

from lightning_fer.run_dirs import RunFolder

REPORTED = ("val_loss", "val_acc", "train_loss", "train_acc", "val_f1_macro")


def in_tune_session() -> bool:
    try:
        from ray import tune
    except ImportError:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tune.get_context().get_trial_id() is not None


class TuneReport(pl.Callback):
    """``val_loss``, ``val_acc`` (+ train metrics) and ``epoch`` (1-based) to Tune; a no-op outside Tune."""

    def __init__(self, metrics: list[str] | None = None) -> None:
        self.metrics = list(metrics or REPORTED)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        found = self.epoch_metrics(trainer)
        if found is None:
            return
        record_epoch(trainer, found)
        if in_tune_session():
            from ray import tune

            tune.report(for_schedulers(found))

    def epoch_metrics(self, trainer: pl.Trainer) -> dict | None:
        """This epoch's report, or None when it did not validate (check_val_every_n_epoch > 1)."""
        found = {k: float(trainer.callback_metrics[k]) for k in self.metrics if k in trainer.callback_metrics}
        if "val_loss" not in found:
            return None
        found["epoch"] = trainer.current_epoch + 1
        return found


class TrainReport(TuneReport):
    """The report of a multi-worker trial: all ranks report to Ray Train, rank 0 also writes epochs.jsonl."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        found = self.epoch_metrics(trainer)  # the same on every rank: validation ran on all of them
        if found is None:
            return
        if trainer.is_global_zero:
            record_epoch(trainer, found)
        import ray.train

        ray.train.report(for_schedulers(found))


def record_epoch(trainer: pl.Trainer, found: dict) -> None:
    with open(RunFolder(trainer.default_root_dir).epochs, "a") as f:
        f.write(json.dumps(found) + "\n")


def for_schedulers(found: dict) -> dict:
    """The report with a diverged (NaN or infinite) loss as the largest finite float, the worst a scheduler can
    rank: NaN compares false with everything, and ASHA's cutoff is a percentile that an infinite value turns into
    NaN, so with either ASHA never stops the trial whose loss is worst of all. epochs.jsonl keeps the real value."""
    return {k: sys.float_info.max if k.endswith("loss") and not math.isfinite(v) else v for k, v in found.items()}


def read_epochs(run_dir: Path) -> list[dict]:
    """The trial's epoch history, one dict per epoch (a repeated epoch after a retry keeps its newest report)."""
    path = RunFolder(run_dir).epochs
    if not path.is_file():
        return []
    by_epoch: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_epoch[int(row["epoch"])] = row
    return [by_epoch[e] for e in sorted(by_epoch)]
