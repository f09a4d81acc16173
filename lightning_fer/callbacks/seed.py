"""Per-epoch reseeding, so that a resumed run draws what the uninterrupted run drew."""

from __future__ import annotations

import pytorch_lightning as pl


class EpochSeed(pl.Callback):
    """Reseed torch/NumPy/random with ``seed + epoch`` at each training epoch start.

    Lightning's checkpoints do not carry the RNG streams, so without this a run resumed from
    ``last.ckpt`` draws other dropout masks than the uninterrupted run; with it, both match exactly on CPU.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        pl.seed_everything(self.seed + trainer.current_epoch + 1000 * trainer.global_rank, workers=True,
                           verbose=False)
