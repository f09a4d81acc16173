"""Callbacks that follow the run-directory convention: everything of a run under ``default_root_dir``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class BestCheckpoint(ModelCheckpoint):
    """Keep the lowest-``val_loss`` checkpoint as ``<default_root_dir>/checkpoints/best.ckpt`` plus ``last.ckpt``.

    The fixed name lets `fer test` find the paper's selected model without bookkeeping; the path is
    resolved from the trainer, so overriding ``--trainer.default_root_dir`` moves the checkpoints too.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", save_last: bool = True,
                 every_n_epochs: int | None = None, every_n_train_steps: int | None = None) -> None:
        super().__init__(dirpath=None, filename="best", monitor=monitor, mode=mode, save_top_k=1,
                         save_last=save_last, enable_version_counter=False, every_n_epochs=every_n_epochs,
                         every_n_train_steps=every_n_train_steps)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        super().setup(trainer, pl_module, stage)

    # Save last only after the parent had its turn in the same hook: saving earlier marks the step as saved
    # and makes the parent skip the best-checkpoint update.
    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_every_time(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_every_time(trainer)

    def _save_last_every_time(self, trainer) -> None:
        """Lightning 2.6 refreshes last.ckpt only when a top-k checkpoint was saved, i.e. when val_loss improved;
        a resume (`--ckpt_path last`, SLURM requeue) must continue from the newest state instead."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class EpochSeed(pl.Callback):
    """Reseed torch/NumPy/random with ``seed + epoch`` at each training epoch start, and from
    (seed, epoch, batch, rank) before each training batch.

    Lightning's checkpoints do not carry the RNG streams, so without this a run resumed from
    ``last.ckpt`` (or mid-epoch from a SLURM ``hpc_ckpt``) draws other dropout masks than the uninterrupted
    run; with it, both match exactly on CPU.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        pl.seed_everything(self.seed + trainer.current_epoch + 1000 * trainer.global_rank, workers=True,
                           verbose=False)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        words = [self.seed % 2**32, trainer.current_epoch, batch_idx, trainer.global_rank]
        pl.seed_everything(int(np.random.SeedSequence(words).generate_state(1)[0]), workers=True, verbose=False)
