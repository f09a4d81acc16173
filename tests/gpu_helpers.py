"""Helpers for the `gpu` tests that need neither DALI nor the LightningCLI (scripts/gpu_check.sh tier 1):
real preprocessed frames of a prepared folder in memory, and a short Lightning fit on any device/precision.

The same functions run on the CPU with tiny sizes (tests/test_gpu_readiness.py), so the GPU tests exercise
code that CI has already run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch


def prepared_frames(prepared: Path, every: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``every``-th frame of every clip of a prepared folder: (N x 1 x 112 x 112 float32, N int64),
    decoded with PyAV and preprocessed by the reference (unit normalization), as `fer predict` does."""
    from dali_pipelines.reference import center_crop, preprocess
    from lightning_fer.prepare import read_manifest
    from lightning_fer.video_io import read_frames

    frames, labels = [], []
    for row in read_manifest(prepared).itertuples():
        clip = preprocess(center_crop(read_frames(prepared / row.clip)[::every], 112))  # the model's window
        frames.append(clip)
        labels.append(np.full(len(clip), int(row.label_index)))
    return torch.from_numpy(np.concatenate(frames)), torch.from_numpy(np.concatenate(labels)).to(torch.int64)


class Batches:
    """``steps`` seeded random batches of ``batch`` frames drawn from in-memory tensors (a fixed epoch length)."""

    def __init__(self, frames: torch.Tensor, labels: torch.Tensor, batch: int, steps: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.index = [torch.randint(0, len(frames), (batch,), generator=generator) for _ in range(steps)]
        self.frames, self.labels = frames, labels

    def __len__(self) -> int:
        return len(self.index)

    def __iter__(self):
        return ((self.frames[i], self.labels[i]) for i in self.index)


class StepLosses(pl.Callback):
    """The training loss of every step, as a float, in order."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss.detach().float().cpu()))


def fit_steps(frames: torch.Tensor, labels: torch.Tensor, root: Path, accelerator: str, precision: str,
              steps: int, batch: int, channels_last: bool = True, dropout: float = 0.25,
              seed: int = 0) -> tuple[list[float], pl.Trainer]:
    """One epoch of ``steps`` Adam (lr 1e-3) steps of a fresh FERModule, then a validation (so BestCheckpoint writes
    ``root/checkpoints/best.ckpt``); returns every step's loss and the trainer."""
    from lightning_fer.callbacks import BestCheckpoint
    from lightning_fer.module import FERModule

    pl.seed_everything(seed, verbose=False)
    # the optimizer as a class (not a lambda/partial): the checkpoint must load with weights_only=True
    module = FERModule(optimizer=torch.optim.Adam, channels_last=channels_last, dropout=dropout)
    losses = StepLosses()
    trainer = pl.Trainer(accelerator=accelerator, devices=1, precision=precision, max_epochs=1,
                         num_sanity_val_steps=0, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(root),
                         callbacks=[BestCheckpoint(), losses])
    train = Batches(frames, labels, batch, steps, seed)
    val = Batches(frames, labels, batch, 2, seed + 1)
    trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
    return losses.losses, trainer


def first_step_loss(frames: torch.Tensor, labels: torch.Tensor, root: Path, accelerator: str, precision: str,
                    batch: int, seed: int = 0) -> float:
    """The loss of step 1 of a fresh model (dropout off, so both precisions see the same network)."""
    losses, _ = fit_steps(frames, labels, root, accelerator, precision, steps=1, batch=batch, dropout=0.0,
                          seed=seed)
    return losses[0]
