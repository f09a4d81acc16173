"""Reseeding per epoch and per step, so that a resumed run draws what the uninterrupted run drew."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl


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
