"""ScaleRecorder: what one point of a scaling study measured, as ``<default_root_dir>/scale_point.json``.

Recorded on the trainer's own numbers (so a point reports what actually ran, not what was planned):
global batch = per-device batch x devices x nodes x accumulation, the peak LR used, optimizer steps,
wall time, training throughput (img/s, and per device), the data-wait share, time to a target
validation accuracy, best val loss/accuracy and the per-validation history.

Data wait = time from the end of one training batch to the start of the next (the loader's ``next()``
plus Lightning's per-step hooks) over the whole training-loop time. On CUDA the recorder synchronizes at
batch boundaries so queued kernels are not mistaken for waiting (``sync_cuda``).
"""

from __future__ import annotations

import json
import time

import pytorch_lightning as pl
import torch

from lightning_fer.atomic_write import write_text
from lightning_fer.run_dirs import RunFolder


class ScaleRecorder(pl.Callback):
    """Measure a training run for a scaling study; rank 0 writes the JSON at fit end (and logs it)."""

    def __init__(self, target_val_acc: float | None = None, point: dict | None = None, sync_cuda: bool = True) -> None:
        self.target_val_acc = target_val_acc
        self.point = dict(point or {})  # the plan (name, rule, optimizer...) echoed into the JSON
        self.sync_cuda = sync_cuda
        self._reset()

    def _reset(self) -> None:
        self.fit_start = self.train_time = self.wait_time = 0.0
        self.samples = 0
        self.peak_lr = self.first_lr = None
        self.batch_end: float | None = None
        self.epoch_start = self.val_start = 0.0
        self.history: list[dict] = []
        self.reached: dict | None = None

    def _now(self, trainer: pl.Trainer) -> float:
        if self.sync_cuda and trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)
        return time.perf_counter()

    def on_fit_start(self, trainer, pl_module) -> None:
        self._reset()
        self.fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.batch_end = self.epoch_start = self._now(trainer)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        now = self._now(trainer)
        if self.batch_end is not None:
            self.wait_time += now - self.batch_end
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        self.first_lr = lr if self.first_lr is None else self.first_lr
        self.peak_lr = lr if self.peak_lr is None else max(self.peak_lr, lr)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.batch_end = self._now(trainer)
        labels = batch[1] if isinstance(batch, list | tuple) else batch
        self.samples += int(labels.shape[0])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # validation runs inside the epoch, after the last batch: count training time up to that batch's end
        if self.batch_end is not None:
            self.train_time += self.batch_end - self.epoch_start
        self.batch_end = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self.val_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        if self.batch_end is not None:  # validation inside a training epoch is neither training nor data wait
            spent = time.perf_counter() - self.val_start
            self.batch_end += spent
            self.epoch_start += spent
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step,
               "seconds": time.perf_counter() - self.fit_start}
        for key in ("val_loss", "val_acc"):
            if key in metrics:
                row[key] = float(metrics[key])
        self.history.append(row)
        acc = row.get("val_acc")
        if self.reached is None and self.target_val_acc is not None and acc is not None and acc >= self.target_val_acc:
            self.reached = row

    def on_fit_end(self, trainer, pl_module) -> None:
        wall = time.perf_counter() - self.fit_start
        samples = int(trainer.strategy.reduce(torch.tensor(float(self.samples), device=pl_module.device),
                                              reduce_op="sum").item())
        if not trainer.is_global_zero:
            return
        result = self.summary(trainer, samples, wall)
        path = RunFolder(trainer.default_root_dir).scale_point
        write_text(path, json.dumps(result, indent=2))
        numeric = {f"scale/{k}": v for k, v in result.items() if isinstance(v, int | float) and v is not None}
        for logger in trainer.loggers:
            logger.log_metrics(numeric, step=trainer.global_step)

    def summary(self, trainer: pl.Trainer, samples: int, wall: float) -> dict:
        datamodule = trainer.datamodule
        per_device = int(datamodule.hparams.batch_size) if datamodule is not None else None
        world, accumulation = trainer.world_size, trainer.accumulate_grad_batches
        losses = [h["val_loss"] for h in self.history if "val_loss" in h]
        accs = [h["val_acc"] for h in self.history if "val_acc" in h]
        throughput = samples / self.train_time if self.train_time > 0 else None
        return {
            **self.point,
            "global_batch": per_device * world * accumulation if per_device else None,
            "per_device_batch": per_device,
            "devices": trainer.num_devices,
            "nodes": trainer.num_nodes,
            "world_size": world,
            "accumulation": accumulation,
            "lr": self.peak_lr,
            "lr_first_step": self.first_lr,
            "steps": trainer.global_step,
            "epochs": trainer.current_epoch,
            "train_samples": samples,
            "wall_seconds": wall,
            "train_seconds": self.train_time,
            "throughput": throughput,
            "throughput_per_device": throughput / world if throughput else None,
            "data_wait_share": self.wait_time / self.train_time if self.train_time > 0 else None,
            "target_val_acc": self.target_val_acc,
            "seconds_to_target": self.reached["seconds"] if self.reached else None,
            "steps_to_target": self.reached["step"] if self.reached else None,
            "best_val_loss": min(losses) if losses else None,
            "best_val_acc": max(accs) if accs else None,
            "val_acc_at_best_loss": accs[losses.index(min(losses))] if losses and len(accs) == len(losses) else None,
            "history": self.history,
        }
