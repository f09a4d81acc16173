"""Epoch, batches consumed and shuffle seed of a training loader: the state Lightning keeps in checkpoints.

Lightning saves ``state_dict()`` of every training loader that has one (``fit_loop`` "combined_loader")
and calls ``load_state_dict()`` before iterating again, so a mid-epoch requeue can continue with the next
unseen batch. Lightning's data fetcher runs one batch ahead of the loop, so the loader's own yield count is
one too many while a step runs: when ``consumed_fn`` is given (the data module passes the loop's count of
processed batches) that count is saved instead. Resuming skips the consumed batches by reading them:
slower than seeking, but DALI's shuffle buffer and augmentation draws then match the uninterrupted run.
Imports no DALI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")


class EpochProgress:
    """Where a loader stands: the epoch of its current pass and the batches consumed in it."""

    def __init__(self, seed: int, epoch_fn: Callable[[], int] | None = None,
                 consumed_fn: Callable[[], int] | None = None) -> None:
        self.seed = seed
        self.epoch_fn, self.consumed_fn = epoch_fn, consumed_fn
        self.epoch, self.yielded = 0, 0
        self._next_pass = 0  # the epoch of the next pass without epoch_fn: passes are counted
        self._pending: tuple[int, int] | None = None

    def upcoming_epoch(self) -> int:
        """The epoch the next pass will read."""
        if self._pending is not None and self.epoch_fn is None:
            return self._pending[0]
        return self.epoch_fn() if self.epoch_fn is not None else self._next_pass

    def start_pass(self) -> tuple[int, int]:
        """Begin a pass: (epoch, batches to skip because a restored state consumed them already)."""
        epoch = self.upcoming_epoch()
        skip = 0
        if self._pending is not None:
            skip = self._pending[1] if self._pending[0] == epoch else 0
            self._pending = None
        self.epoch, self.yielded, self._next_pass = epoch, skip, epoch + 1
        return epoch, skip

    def run(self, batches: Iterator[T], skip: int, length: int | None) -> Iterator[T]:
        """The pass's batches after ``skip``, at most ``length`` in all (skipped ones included)."""
        for index, batch in enumerate(islice(batches, length)):
            if index >= skip:
                self.yielded = index + 1
                yield batch

    def state_dict(self) -> dict[str, Any]:
        consumed = self.yielded if self.consumed_fn is None else min(self.consumed_fn(), self.yielded)
        return {"epoch": self.epoch, "batches": consumed, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self._pending = (int(state["epoch"]), int(state["batches"]))
