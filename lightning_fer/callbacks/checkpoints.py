"""Checkpoints under the run directory: ``<default_root_dir>/checkpoints/best.ckpt`` and ``last.ckpt``.

Two plain ``ModelCheckpoint`` instances, configured through public arguments only:

- :class:`BestCheckpoint` keeps the lowest-``val_loss`` model as ``best.ckpt`` (the paper's model selection);
  the fixed name lets `fer test` find it without bookkeeping. It saves when validation ends, weights only
  (``save_weights_only``: no optimizer, scheduler or callback state, about a third of a full ResNet-50 + AdamW
  checkpoint), plus the ``fer`` record that `fer predict`/`fer export` read: test, predict and export need no
  more, and resuming reads ``last.ckpt``.
- :class:`LastCheckpoint` writes the newest state as ``last.ckpt`` at every training epoch end, improved
  ``val_loss`` or not (Lightning's own ``save_last`` refreshes it only when a top-k checkpoint was saved), so
  `--ckpt_path last` and a SLURM requeue continue from the newest state. Validation ends before the training
  epoch does, so ``last.ckpt`` always holds the best-checkpoint bookkeeping of its own epoch, whatever the
  order of the callbacks. It (and SLURM's ``hpc_ckpt_N.ckpt``) keeps the full training state.

Both resolve their folder from the trainer in ``setup``, so ``--trainer.default_root_dir`` moves them too.
"""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning.callbacks import ModelCheckpoint

from lightning_fer.run_dirs import RunFolder


def run_checkpoint_dir(default_root_dir: str | Path) -> Path:
    """Where a run's checkpoints live (:attr:`RunFolder.checkpoints`)."""
    return RunFolder(default_root_dir).checkpoints


class _RunDirCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint whose ``dirpath`` defaults to ``<default_root_dir>/checkpoints`` (not the logger's folder)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = str(run_checkpoint_dir(trainer.default_root_dir))
        super().setup(trainer, pl_module, stage)


class BestCheckpoint(_RunDirCheckpoint):
    """``best.ckpt``: the weights with the lowest ``monitor`` value (``val_loss``), replaced when it improves."""

    def __init__(self, monitor: str = "val_loss", mode: str = "min", every_n_epochs: int | None = None,
                 every_n_train_steps: int | None = None) -> None:
        super().__init__(dirpath=None, filename=RunFolder.BEST, monitor=monitor, mode=mode, save_top_k=1,
                         save_last=False, enable_version_counter=False, every_n_epochs=every_n_epochs,
                         save_weights_only=True, every_n_train_steps=every_n_train_steps,
                         save_on_train_epoch_end=False)


class LastCheckpoint(_RunDirCheckpoint):
    """``last.ckpt``: the newest training state, overwritten at the end of every training epoch."""

    def __init__(self, every_n_epochs: int = 1) -> None:
        super().__init__(dirpath=None, filename=RunFolder.LAST, monitor=None, save_top_k=1,
                         save_last=False, enable_version_counter=False, every_n_epochs=every_n_epochs,
                         save_on_train_epoch_end=True)
