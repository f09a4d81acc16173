"""Expand a Study into points: one normal `fer fit` each, built from the base config plus overrides.

A point's arguments split in two: ``hardware_args`` (devices, nodes, strategy), which the slurm backend
takes from the job's resources instead, and ``fit_args`` (batch, accumulation, optimizer with the scaled LR,
run directory, wandb group, the ScaleRecorder and LinearWarmup callbacks), which every backend passes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lightning_fer.cli_overrides import override_args
from lightning_fer.errors import UserError
from lightning_fer.markdown import markdown_table
from lightning_fer.scale.lr_rules import BatchSplit, scaled_lr, split_global_batch
from lightning_fer.scale.study import BASE_OPTIMIZER, Optimizer, Study, Sweep, Warmup

RECORDER = "lightning_fer.scale.recorder.ScaleRecorder"
WARMUP = "lightning_fer.scale.warmup.LinearWarmup"


@dataclass
class Point:
    name: str
    sweep: str
    lr_rule: str
    optimizer: str
    split: BatchSplit
    lr: float
    reference_lr: float
    run_dir: Path
    accelerator: str = "auto"  # trainer.accelerator as the point's config resolves it (cpu: no GPU reserved)
    fit_args: list[str] = field(default_factory=list)

    @property
    def global_batch(self) -> int:
        return self.split.global_batch

    @property
    def devices(self) -> int:
        """Devices (ranks) per node: trainer.devices of the point."""
        return self.split.devices

    def hardware_args(self) -> list[str]:
        return ["--trainer.devices", str(self.split.devices), "--trainer.num_nodes", str(self.split.nodes),
                "--trainer.strategy", "ddp" if self.split.world_size > 1 else "auto"]

    def wandb_values(self) -> dict[str, Any]:
        """What the point's wandb run shows at the top level of its config (the run adds world_size, nodes)."""
        return {"sweep": self.sweep, "lr_rule": self.lr_rule, "optimizer": self.optimizer, "lr": self.lr,
                "batch_size": self.split.per_device, "global_batch": self.global_batch,
                "accumulation": self.split.accumulation, "devices": self.split.devices}

    def meta(self) -> dict[str, Any]:
        """The plan as echoed into scale_point.json (the recorder adds what was measured)."""
        return {"point": self.name, "sweep": self.sweep, "lr_rule": self.lr_rule, "optimizer": self.optimizer,
                "planned_lr": self.lr, "reference_lr": self.reference_lr, "planned_global_batch": self.global_batch}


def resolved(base_config: str, args: Sequence[str] = ()):
    """The config a point's `fer fit` runs with, resolved by LightningCLI (base YAML, overrides, defaults)."""
    from lightning_fer.lightning_cli import resolved_fit_config

    try:
        return resolved_fit_config(["--config", base_config, *args])
    except SystemExit as exit_:  # jsonargparse printed what it could not parse
        raise UserError(f"{base_config} with the study's overrides {' '.join(args)}: not a valid `fer fit` config "
                        f"(exit {exit_.code}; see the message above)") from None


def base_optimizer(config, source: str) -> Optimizer:
    """The resolved config's optimizer with the settings it gives explicitly (not every constructor default)."""
    spec = config.model.optimizer
    if spec is None or not getattr(spec, "class_path", None):
        raise UserError(f"{source}: model.optimizer with a class_path is needed for the optimizer 'base'")
    init_args = spec.init_args.as_dict() if spec.get("init_args") is not None else {}
    return Optimizer(spec.class_path, _explicit(spec.class_path, init_args))


def _explicit(class_path: str, init_args: dict[str, Any]) -> dict[str, Any]:
    """``init_args`` without the values equal to the class's own defaults."""
    import importlib
    import inspect

    module, _, name = class_path.rpartition(".")
    defaults = {k: p.default for k, p in inspect.signature(getattr(importlib.import_module(module), name)).parameters
                .items() if p.default is not inspect.Parameter.empty}
    return {k: v for k, v in init_args.items() if k not in defaults or defaults[k] != v}


def _start_factor(warmup: Warmup, lr: float, reference_lr: float) -> float:
    if warmup.start == "zero":
        return 0.0
    if warmup.start == "reference":
        return min(1.0, reference_lr / lr) if lr > 0 else 1.0
    return float(warmup.start)


def _batches(sweep: Sweep, devices: int, nodes: int) -> list[int]:
    return list(sweep.global_batch) or [sweep.per_device_batch * devices * nodes]


def expand(study: Study, extra_args: list[str] | tuple[str, ...] = ()) -> list[Point]:
    """Every point of every sweep, in file order; names are unique and stable (they are the run directories)."""
    optimizers = {**study.optimizers, BASE_OPTIMIZER: base_optimizer(resolved(study.base_config),
                                                                      study.base_config)} \
        if any(BASE_OPTIMIZER in s.optimizer for s in study.sweeps) else dict(study.optimizers)
    points: list[Point] = []
    for sweep in study.sweeps:
        overrides = {**study.overrides, **sweep.overrides}
        config = resolved(study.base_config, [*override_args(overrides), *extra_args])
        multiple = int(config.data.train_sampling.sequence_length)
        warmup = sweep.warmup or study.warmup
        for hw in sweep.hardware:
            for batch in _batches(sweep, hw.devices, hw.nodes):
                split = split_global_batch(batch, hw.devices, hw.nodes, study.max_per_device_batch, multiple)
                for opt_name in sweep.optimizer:
                    opt = optimizers[opt_name]
                    reference_lr = opt.lr or study.reference_lr or opt.init_args.get("lr")
                    if reference_lr is None:
                        raise UserError(f"{study.source}: no reference LR for optimizer {opt_name!r} "
                                        "(set reference_lr, optimizers.<name>.lr or lr in the base config)")
                    for rule in sweep.lr_rule:
                        lr = scaled_lr(float(reference_lr), batch, study.reference_batch, rule)
                        name = f"{sweep.name}-b{batch}-{rule}-{opt_name}-{hw.nodes}x{hw.devices}"
                        point = Point(name, sweep.name, rule, opt_name, split, lr, float(reference_lr),
                                      study.out_dir / name, accelerator=str(config.trainer.accelerator))
                        point.fit_args = _fit_args(study, point, opt, overrides, warmup, extra_args)
                        points.append(point)
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise UserError(f"{study.source}: two points share a name (repeated batch/rule/optimizer/hardware)")
    return points


def _fit_args(study: Study, point: Point, opt: Optimizer, overrides: dict[str, Any], warmup: Warmup | None,
              extra_args: list[str] | tuple[str, ...]) -> list[str]:
    optimizer = {"class_path": opt.class_path, "init_args": {**opt.init_args, "lr": point.lr}}
    recorder = {"class_path": RECORDER, "init_args": {"target_val_acc": study.target_val_acc, "point": point.meta()}}
    args = ["--config", study.base_config, *override_args(overrides), *extra_args,
            "--data.batch_size", str(point.split.per_device),
            "--trainer.accumulate_grad_batches", str(point.split.accumulation),
            "--model.optimizer", json.dumps(optimizer),
            "--trainer.default_root_dir", str(point.run_dir),
            "--wandb_group", f"scale/{study.name}", "--wandb_job_type", "point",
            "--wandb_config", json.dumps(point.wandb_values())]
    if study.wandb is not None:
        args += ["--wandb", str(study.wandb).lower()]
    if study.wandb_project:
        args += ["--wandb_project", study.wandb_project]
    if warmup is not None:
        init = {"start_factor": _start_factor(warmup, point.lr, point.reference_lr)}
        init.update({"epochs": warmup.epochs} if warmup.epochs is not None else {"steps": warmup.steps})
        args.append(f"--trainer.callbacks+={json.dumps({'class_path': WARMUP, 'init_args': init})}")
    args.append(f"--trainer.callbacks+={json.dumps(recorder)}")  # after the warmup: it sees the LR the step uses
    return args


def describe(points: list[Point]) -> str:
    """A markdown table of the plan: how each global batch is laid out and the LR it gets."""
    header = ["point", "global batch", "= per device x devices x nodes x accum", "LR rule", "optimizer", "LR"]
    rows = [[p.name, p.global_batch, f"{p.split.per_device} x {p.split.devices} x {p.split.nodes} x "
             f"{p.split.accumulation}", p.lr_rule, p.optimizer, f"{p.lr:.6g}"] for p in points]
    return markdown_table(header, rows) + "\n"


def plan_record(points: list[Point]) -> list[dict[str, Any]]:
    return [{**p.meta(), **asdict(p.split), "run_dir": str(p.run_dir)} for p in points]
