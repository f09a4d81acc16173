"""What a SLURM job asks for, read from `configs/cluster/*.yaml` and overridable by `fer submit` flags.

One dataclass is the single source of the defaults; the YAML and the flags only override it, and
every value is checked here so a typo fails before anything reaches `sbatch`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_fer.errors import UserError
from lightning_fer.yaml_mapping import load_yaml_mapping

# SLURM's --time forms: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_TIME = re.compile(r"^(\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2})$")
_MEM = re.compile(r"^\d+[KMGT]?$")
_JOB_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass
class Resources:
    """Per-job SLURM resources; `tasks_per_node` defaults to the GPUs per node (one DDP rank each)."""

    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None
    cpus_per_task: int = 1
    mem: str | None = None  # per node, SLURM syntax: 8G, 16000M; None takes the cluster's DefMemPerCPU
    partition: str | None = None
    account: str | None = None
    time: str = "01:00:00"
    job_name: str = "fer"
    gpu_type: str | None = None  # e.g. a100 -> --gres=gpu:a100:4
    log_dir: str = "runs/slurm"  # job output and the submitted scripts; relative to the submit directory
    extra_sbatch: list[str] = field(default_factory=list)  # e.g. ["--qos=high", "--constraint=ib"]
    setup: list[str] = field(default_factory=list)  # shell lines before the work: module load, source venv
    fer_command: str | None = None  # how jobs run fer; None: this Python (`python -m lightning_fer.cli`)

    @property
    def ntasks_per_node(self) -> int:
        if self.tasks_per_node is not None:
            return self.tasks_per_node
        return self.gpus_per_node or 1

    @property
    def world_size(self) -> int:
        return self.nodes * self.ntasks_per_node

    def validate(self, source: str = "resources") -> Resources:
        """Raise UserError naming `source` and the bad field; return self for chaining."""

        def bad(name: str, why: str) -> UserError:
            return UserError(f"{source}: {name}={getattr(self, name)!r} {why}")

        for name in ("nodes", "cpus_per_task"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "must be an integer >= 1")
        if not isinstance(self.gpus_per_node, int) or self.gpus_per_node < 0:
            raise bad("gpus_per_node", "must be an integer >= 0")
        if self.tasks_per_node is not None and (not isinstance(self.tasks_per_node, int) or self.tasks_per_node < 1):
            raise bad("tasks_per_node", "must be an integer >= 1")
        if self.gpus_per_node and self.tasks_per_node not in (None, self.gpus_per_node):
            raise bad("tasks_per_node", f"must equal gpus_per_node={self.gpus_per_node} (one DDP rank per GPU)")
        if self.mem is not None and not _MEM.match(str(self.mem)):
            raise bad("mem", "is not SLURM memory syntax such as 8G or 16000M")
        if not _TIME.match(str(self.time)):
            raise bad("time", "is not SLURM time syntax such as 00:30:00 or 1-12:00:00")
        if not _JOB_NAME.match(str(self.job_name)):
            raise bad("job_name", "may only hold letters, digits and _ . + -")
        for name in ("extra_sbatch", "setup"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
                raise bad(name, "must be a list of strings")
        return self

    def replace(self, **overrides: Any) -> Resources:
        """A copy with the non-None overrides applied (unset command-line flags are None)."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


def load_resources(path: str | Path | None, **overrides: Any) -> Resources:
    """Resources from a YAML file (or the defaults when `path` is None), then the overrides, validated."""
    resources = Resources()
    source = "resources"
    if path is not None:
        source = str(path)
        resources = _from_yaml(Path(path))
    return resources.replace(**overrides).validate(source)


def _from_yaml(path: Path) -> Resources:
    data = load_yaml_mapping(path, "cluster config")
    known = {f.name for f in dataclasses.fields(Resources)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(
            f"cluster config {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if isinstance(data.get("time"), int):
        raise UserError(
            f'cluster config {path}: time must be quoted, e.g. time: "00:30:00" '
            f"(YAML reads an unquoted 00:30:00 as the number {data['time']})"
        )
    if isinstance(data.get("mem"), int):
        data["mem"] = f"{data['mem']}M"
    return Resources(**data)
