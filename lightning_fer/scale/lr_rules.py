"""The arithmetic of large-batch training, as pure functions (unit-tested, shared by the planner and callbacks).

- Global batch = per-device batch x devices x nodes x gradient-accumulation steps: the number of samples
  behind one optimizer step, the quantity the LR rules scale with.
- LR rules relative to a reference (batch B0, LR lr0): ``linear`` lr = lr0 * B / B0 (Goyal et al. 2017),
  ``sqrt`` lr = lr0 * sqrt(B / B0) (Krizhevsky 2014; Hoffer et al. 2017), ``none`` lr = lr0.
- Gradual warmup (Goyal et al. 2017): the LR ramps linearly, per optimizer step, from a start value
  (by default the reference LR) to the scaled LR over the first warmup steps, then stays at the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from lightning_fer.errors import UserError

LRRule = Literal["linear", "sqrt", "none"]
LR_RULES: tuple[str, ...] = ("linear", "sqrt", "none")


def global_batch(per_device: int, devices: int = 1, nodes: int = 1, accumulation: int = 1) -> int:
    """Samples per optimizer step."""
    return per_device * devices * nodes * accumulation


def scaled_lr(reference_lr: float, batch: int, reference_batch: int, rule: str) -> float:
    """The LR for global batch ``batch`` under ``rule``, given ``reference_lr`` at ``reference_batch``."""
    if batch < 1 or reference_batch < 1:
        raise UserError(f"batch sizes must be >= 1 (got batch {batch}, reference {reference_batch})")
    ratio = batch / reference_batch
    if rule == "linear":
        return reference_lr * ratio
    if rule == "sqrt":
        return reference_lr * math.sqrt(ratio)
    if rule == "none":
        return reference_lr
    raise UserError(f"unknown LR rule {rule!r}; known: {', '.join(LR_RULES)}")


def warmup_factor(step: int, warmup_steps: int, start_factor: float = 0.0) -> float:
    """Multiplier on the target LR at optimizer step ``step`` (0-based): linear from ``start_factor`` to 1.

    Step 0 uses ``start_factor``; step ``warmup_steps`` and later use 1.0. No warmup (0 steps) is always 1.0.
    """
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return start_factor + (1.0 - start_factor) * max(step, 0) / warmup_steps


@dataclass(frozen=True)
class BatchSplit:
    """How one global batch is laid out on the hardware."""

    per_device: int
    devices: int
    nodes: int
    accumulation: int

    @property
    def world_size(self) -> int:
        return self.devices * self.nodes

    @property
    def global_batch(self) -> int:
        return global_batch(self.per_device, self.devices, self.nodes, self.accumulation)


def split_global_batch(batch: int, devices: int = 1, nodes: int = 1, max_per_device: int | None = None,
                       multiple_of: int = 1) -> BatchSplit:
    """Spread ``batch`` over devices x nodes, accumulating gradients when a device cannot hold its share.

    Uses the fewest accumulation steps that keep the per-device batch <= ``max_per_device`` and a multiple of
    ``multiple_of`` (the loader's sequence length); raises UserError when no exact split exists.
    """
    world = devices * nodes
    if batch < 1 or world < 1:
        raise UserError(f"global batch {batch} on {devices} device(s) x {nodes} node(s): all must be >= 1")
    if batch % world:
        raise UserError(f"global batch {batch} does not divide over {world} devices ({devices} x {nodes} nodes)")
    per_rank = batch // world
    cap = max_per_device or per_rank
    for accumulation in range(max(1, math.ceil(per_rank / cap)), per_rank + 1):
        per_device, rest = divmod(per_rank, accumulation)
        if not rest and per_device <= cap and per_device % multiple_of == 0:
            return BatchSplit(per_device, devices, nodes, accumulation)
    raise UserError(f"global batch {batch} on {world} devices: no per-device batch <= {cap} that is a multiple "
                    f"of {multiple_of} divides the {per_rank} samples per device exactly")
