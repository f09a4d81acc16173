"""Gradual LR warmup per optimizer step (Goyal et al. 2017), as a callback.

A callback rather than an ``model.lr_scheduler``: FERModule steps schedulers once per epoch, and the
warmup that keeps large-batch ResNet-50 on track ramps every iteration. During warmup it sets each param
group's LR to ``target * warmup_factor(step)``; afterwards it leaves the LR alone, so an epoch scheduler
from the config (cosine, step) takes over from the target LR.

    --trainer.callbacks+='{"class_path": "lightning_fer.scale.warmup.LinearWarmup",
                           "init_args": {"epochs": 5, "start_factor": 0.125}}'
"""

from __future__ import annotations

import math

import pytorch_lightning as pl

from lightning_fer.errors import UserError
from lightning_fer.scale.lr_rules import warmup_factor


def optimizer_steps_per_epoch(trainer: pl.Trainer) -> int:
    """Optimizer steps in one training epoch (batches / accumulation, the last partial window counts)."""
    batches = trainer.num_training_batches
    if not isinstance(batches, int) and not (isinstance(batches, float) and math.isfinite(batches)):
        raise UserError("warmup in epochs needs a sized training loader; give warmup steps instead")
    return max(1, math.ceil(int(batches) / trainer.accumulate_grad_batches))


class LinearWarmup(pl.Callback):
    """Ramp the LR linearly from ``start_factor`` x target to the target over ``epochs`` or ``steps``."""

    def __init__(self, epochs: float | None = None, steps: int | None = None, start_factor: float = 0.0) -> None:
        if (epochs is None) == (steps is None):
            raise UserError("LinearWarmup: give exactly one of epochs or steps")
        if (epochs or 0) < 0 or (steps or 0) < 0 or not 0.0 <= start_factor <= 1.0:
            raise UserError(f"LinearWarmup: epochs/steps must be >= 0 and start_factor in [0, 1] "
                            f"(got epochs={epochs}, steps={steps}, start_factor={start_factor})")
        self.epochs, self.steps, self.start_factor = epochs, steps, start_factor
        self.warmup_steps = steps or 0
        self.targets: list[list[float]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.epochs is not None:
            self.warmup_steps = round(self.epochs * optimizer_steps_per_epoch(trainer))
        if not self.targets:  # a resumed run keeps the targets from its checkpoint, not the mid-ramp LR
            # the target is what the optimizer was built with (initial_lr if an LR scheduler has already run)
            self.targets = [[group.get("initial_lr", group["lr"]) for group in opt.param_groups]
                            for opt in trainer.optimizers]
        self._apply(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        self._apply(trainer)

    def _apply(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        if step > self.warmup_steps:  # done: the LR belongs to the optimizer (and any scheduler) again
            return
        factor = warmup_factor(step, self.warmup_steps, self.start_factor)
        for optimizer, targets in zip(trainer.optimizers, self.targets, strict=True):
            for group, target in zip(optimizer.param_groups, targets, strict=True):
                group["lr"] = target * factor

    def state_dict(self) -> dict:
        return {"warmup_steps": self.warmup_steps, "targets": self.targets}

    def load_state_dict(self, state_dict: dict) -> None:
        self.warmup_steps = state_dict.get("warmup_steps", self.warmup_steps)
        self.targets = state_dict.get("targets", [])
