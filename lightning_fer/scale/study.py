"""A scaling study as read from ``configs/scale/*.yaml``: the base training config, the sweeps, the LR rules.

One dataclass per YAML section; every value is checked on load so a typo fails before any training
starts, with the file and key in the message. ``plan.py`` expands a Study into its points.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_fer.errors import UserError
from lightning_fer.resources import resolve_config
from lightning_fer.scale.lr_rules import LR_RULES
from lightning_fer.yaml_mapping import load_yaml_mapping

BASE_OPTIMIZER = "base"  # the optimizer name that means "whatever the base config uses"


@dataclass
class Optimizer:
    """A torch optimizer class path, its arguments, and its LR at the reference batch (None: the study's)."""

    class_path: str
    init_args: dict[str, Any] = field(default_factory=dict)
    lr: float | None = None


@dataclass
class Warmup:
    """Gradual warmup (Goyal et al. 2017): ``epochs`` or ``steps``, from the reference LR or from zero."""

    epochs: float | None = None
    steps: int | None = None
    start: str | float = "reference"  # reference: start at the reference LR | zero | a factor of the target


@dataclass
class Hardware:
    devices: int = 1
    nodes: int = 1


@dataclass
class Sweep:
    """A grid: (global_batch or per_device_batch) x lr_rule x optimizer x hardware."""

    name: str
    global_batch: list[int] = field(default_factory=list)
    per_device_batch: int | None = None  # weak scaling: global batch = this x devices x nodes
    lr_rule: list[str] = field(default_factory=lambda: ["linear"])
    optimizer: list[str] = field(default_factory=lambda: [BASE_OPTIMIZER])
    hardware: list[Hardware] = field(default_factory=lambda: [Hardware()])
    warmup: Warmup | None = None  # None: the study's
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Study:
    name: str
    base_config: str
    sweeps: list[Sweep]
    run_dir: str = ""  # default runs/scale/<name>
    reference_batch: int = 256
    reference_lr: float | None = None  # None: the base config optimizer's lr
    max_per_device_batch: int | None = None  # larger shares accumulate gradients
    target_val_acc: float | None = None
    warmup: Warmup | None = None
    optimizers: dict[str, Optimizer] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted LightningCLI keys for every point
    wandb: bool | None = None  # None: the base config's setting
    wandb_project: str | None = None
    cluster_config: str | None = None  # the slurm backend's resources (configs/cluster/*.yaml)
    source: str = ""

    @property
    def out_dir(self) -> Path:
        return Path(self.run_dir or f"runs/scale/{self.name}")


def _build(cls, data: Any, where: str):
    """A dataclass from a mapping, naming unknown keys and the place they were found."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)} - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**data)
    except TypeError as err:
        raise UserError(f"{where}: {err}") from None


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{where}: expected an integer >= 1, got {value!r}")
    return value


def _warmup(data: Any, where: str) -> Warmup | None:
    if data is None:
        return None
    warmup = _build(Warmup, data, where)
    if (warmup.epochs is None) == (warmup.steps is None):
        raise UserError(f"{where}: give exactly one of epochs or steps")
    if not (warmup.start in ("reference", "zero") or (isinstance(warmup.start, int | float)
                                                       and 0 <= warmup.start <= 1)):
        raise UserError(f"{where}: start must be reference, zero or a factor in [0, 1], got {warmup.start!r}")
    return warmup


def _sweep(data: Any, where: str, optimizers: dict[str, Optimizer]) -> Sweep:
    data = dict(data) if isinstance(data, dict) else data
    if isinstance(data, dict):
        data["hardware"] = [_build(Hardware, h, f"{where}.hardware[{i}]") for i, h in
                            enumerate(data.get("hardware") or [{}])]
        data["warmup"] = _warmup(data.get("warmup"), f"{where}.warmup")
        for key in ("lr_rule", "optimizer", "global_batch"):
            if key in data and not isinstance(data[key], list):
                data[key] = [data[key]]
    sweep = _build(Sweep, data, where)
    if bool(sweep.global_batch) == (sweep.per_device_batch is not None):
        raise UserError(f"{where}: give exactly one of global_batch (a list) or per_device_batch")
    for i, batch in enumerate(sweep.global_batch):
        _positive_int(batch, f"{where}.global_batch[{i}]")
    for hw in sweep.hardware:
        _positive_int(hw.devices, f"{where}.hardware.devices")
        _positive_int(hw.nodes, f"{where}.hardware.nodes")
    for rule in sweep.lr_rule:
        if rule not in LR_RULES:
            raise UserError(f"{where}.lr_rule: unknown rule {rule!r}; known: {', '.join(LR_RULES)}")
    for name in sweep.optimizer:
        if name != BASE_OPTIMIZER and name not in optimizers:
            raise UserError(f"{where}.optimizer: {name!r} is not in the study's optimizers "
                            f"({', '.join(optimizers) or 'none defined'}) nor {BASE_OPTIMIZER!r}")
    return sweep


def load_study(path: str | Path) -> Study:
    """Read and check a study YAML; relative paths in it stay relative to the working directory."""
    path = Path(path)
    data = load_yaml_mapping(path, "study")
    data.setdefault("name", path.stem)
    for key in ("base_config", "sweeps"):
        if key not in data:
            raise UserError(f"study {path}: missing key {key!r}")
    optimizers = {name: _build(Optimizer, spec, f"{path}: optimizers.{name}")
                  for name, spec in (data.get("optimizers") or {}).items()}
    data["optimizers"] = optimizers
    data["warmup"] = _warmup(data.get("warmup"), f"{path}: warmup")
    if not isinstance(data["sweeps"], list) or not data["sweeps"]:
        raise UserError(f"study {path}: sweeps must be a non-empty list")
    data["sweeps"] = [_sweep(s, f"{path}: sweeps[{i}]", optimizers) for i, s in enumerate(data["sweeps"])]
    names = [s.name for s in data["sweeps"]]
    if len(set(names)) != len(names):
        raise UserError(f"study {path}: sweep names must be unique, got {names}")
    study = _build(Study, data, f"study {path}")
    _positive_int(study.reference_batch, f"study {path}: reference_batch")
    if study.max_per_device_batch is not None:
        _positive_int(study.max_per_device_batch, f"study {path}: max_per_device_batch")
    study.base_config = resolve_config(study.base_config)
    if study.cluster_config:
        study.cluster_config = resolve_config(study.cluster_config)
    if not Path(study.base_config).is_file():
        raise UserError(f"study {path}: base_config {study.base_config} does not exist")
    study.source = str(path)
    return study
