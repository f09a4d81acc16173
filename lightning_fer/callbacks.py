"""Callbacks that follow the run-directory convention: everything of a run under ``default_root_dir``."""

from __future__ import annotations

from pathlib import Path

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
