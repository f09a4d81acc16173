"""Progress for logs, not terminals: one line every N training steps instead of a redrawn bar.

Lightning's TQDM bar rewrites itself on every batch; in a SLURM output file or a Ray Tune trial log each
redraw becomes text, thousands of lines per epoch. :class:`LineProgressBar` takes the bar's place (it is a
``ProgressBar``, so Lightning adds no TQDM bar beside it) and prints plain lines: every ``every_n_steps``
training steps, at the end of each validation and after a test. The CLI picks it with ``--progress``
(``auto``: lines when stdout is not a terminal).
"""

from __future__ import annotations

import sys
import time
from typing import Literal

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar

ProgressMode = Literal["auto", "bar", "lines"]


def wants_lines(mode: ProgressMode, stream=None) -> bool:
    """``lines`` -> True, ``bar`` -> False, ``auto`` -> True unless ``stream`` (stdout) is a terminal."""
    if mode == "auto":
        stream = sys.stdout if stream is None else stream
        return not (hasattr(stream, "isatty") and stream.isatty())
    return mode == "lines"


class LineProgressBar(ProgressBar):
    """Plain-text progress: ``epoch 1/10 step 50/300 | 41.2 it/s | train_loss_step=1.73`` every N steps."""

    def __init__(self, every_n_steps: int = 50) -> None:
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self._enabled = True
        self._epoch_start = time.monotonic()

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _line(self, text: str, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        shown = " ".join(f"{k}={_fmt(v)}" for k, v in metrics.items())
        print(f"{text} | {shown}" if shown else text, flush=True)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        step = batch_idx + 1
        if not self._enabled or step % self.every_n_steps:
            return
        rate = step / max(time.monotonic() - self._epoch_start, 1e-9)
        total = self.total_train_batches
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        of = f"/{int(total)}" if total != float("inf") else ""
        self._line(f"epoch {trainer.current_epoch + 1}{epochs} step {step}{of} | {rate:.2f} it/s", trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._enabled and not trainer.sanity_checking:
            self._line(f"epoch {trainer.current_epoch + 1} validation done", trainer, pl_module)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._enabled:
            self._line("test done", trainer, pl_module)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
