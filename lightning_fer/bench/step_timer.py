"""The Lightning callback `fer bench scaling` adds to each `fer fit` it times (kept out of scaling.py so that
`fer bench --help` does not import Lightning)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl

from lightning_fer.atomic_write import write_text


class StepTimer(pl.Callback):
    """Record ``time.perf_counter()`` at every training batch end; write them to step_times_rank<r>.json."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, *_args, **_kwargs) -> None:
        self.ends.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size, "batch_ends": self.ends}
        path = Path(trainer.default_root_dir) / f"step_times_rank{trainer.global_rank}.json"
        write_text(path, json.dumps(record))
