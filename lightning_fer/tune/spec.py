"""The search-space YAML (`configs/tune/*.yaml`) -> Tune param space, scheduler and trial resources.

Schema (every key but ``space`` optional)::

    metric: val_loss            # reported by every trial each epoch (val_loss, val_acc, train_loss, ...)
    mode: min
    num_samples: 1              # grid: repeats of the whole grid; random: number of trials
    max_concurrent: null        # at most this many trials at once (null: as many as resources allow)
    max_failures: 2             # retries of a failed trial (it resumes from its last.ckpt)
    resources: {cpu: 4, gpu: auto}   # per trial; gpu auto = 1 when the Ray cluster has GPUs, else 0
    seed: 0                     # random search: the sampler's seed (reproducible trial configs)
    table: {rows: data.batch_size, columns: trainer.max_epochs}   # the paper's Table 2/4 layout
    scheduler: {asha: {grace_period: 5, max_t: 100, reduction_factor: 3}}
    space:                      # LightningCLI dotted keys -> a domain or a constant
      data.batch_size: {grid: [32, 64, 128]}
      model.optimizer.init_args.lr: {loguniform: [1.0e-4, 1.0e-1]}

Domains: ``grid``, ``choice`` (lists), ``uniform``, ``loguniform`` ([low, high]), ``randint`` ([low, high)),
or a plain value. A choice between dicts (e.g. optimizer class_path + init_args) is passed as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_fer.errors import UserError
from lightning_fer.yaml_mapping import load_yaml_mapping

DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
KNOWN_KEYS = {"metric", "mode", "num_samples", "max_concurrent", "max_failures", "resources", "seed", "table",
              "scheduler", "space"}


@dataclass
class SearchSpec:
    """A parsed search-space file; plain data, so it is saved with the experiment and reloaded on --resume."""

    space: dict[str, Any]
    metric: str = "val_loss"
    mode: str = "min"
    num_samples: int = 1
    max_concurrent: int | None = None
    max_failures: int = 2
    resources: dict[str, Any] = field(default_factory=lambda: {"cpu": 1, "gpu": "auto"})
    seed: int | None = None
    table: dict[str, str] | None = None
    scheduler: dict[str, dict[str, Any]] | None = None
    source: str = ""

    def grid_keys(self) -> list[str]:
        return [k for k, v in self.space.items() if isinstance(v, dict) and "grid" in v]

    def table_axes(self) -> tuple[str, str] | None:
        """(rows, columns) of the paper-style table: from ``table`` or, for a 2-key grid, batch size as rows."""
        if self.table:
            return self.table["rows"], self.table["columns"]
        grid = self.grid_keys()
        if len(grid) != 2:
            return None
        rows = "data.batch_size" if "data.batch_size" in grid else grid[0]
        return rows, next(k for k in grid if k != rows)


def load_spec(path: str | Path) -> SearchSpec:
    path = Path(path)
    raw = load_yaml_mapping(path, "search space", hint="see configs/tune/*.yaml")
    if not isinstance(raw.get("space"), dict) or not raw["space"]:
        raise UserError(f"search space {path}: needs a non-empty `space:` mapping of dotted keys to domains")
    if unknown := set(raw) - KNOWN_KEYS:
        raise UserError(f"search space {path}: unknown key(s) {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}")
    for key, value in raw["space"].items():
        _check_domain(path, key, value)
    if raw.get("mode", "min") not in ("min", "max"):
        raise UserError(f"search space {path}: mode must be min or max, got {raw['mode']!r}")
    spec = SearchSpec(**{k: v for k, v in raw.items() if v is not None}, source=str(path.resolve()))
    if spec.table and set(spec.table) != {"rows", "columns"}:
        raise UserError(f"search space {path}: table needs exactly `rows` and `columns` (dotted keys)")
    if spec.scheduler and set(spec.scheduler) - {"asha"}:
        raise UserError(f"search space {path}: unknown scheduler {sorted(spec.scheduler)}; supported: asha")
    return spec


def _check_domain(path: Path, key: str, value: Any) -> None:
    if not isinstance(value, dict) or "class_path" in value:
        return  # a constant
    if len(value) != 1 or next(iter(value)) not in DOMAINS:
        raise UserError(f"search space {path}: {key}: expected one of {DOMAINS} or a plain value, got {value!r}")
    name, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        raise UserError(f"search space {path}: {key}: {name} needs a non-empty list, got {args!r}")
    if name in ("uniform", "loguniform", "randint") and len(args) != 2:
        raise UserError(f"search space {path}: {key}: {name} needs [low, high], got {args!r}")


def param_space(spec: SearchSpec) -> dict[str, Any]:
    """Tune domains keyed by the dotted LightningCLI keys."""
    from ray import tune

    makers = {"grid": tune.grid_search, "choice": tune.choice,
              "uniform": lambda a: tune.uniform(*map(float, a)),
              "loguniform": lambda a: tune.loguniform(*map(float, a)),
              "randint": lambda a: tune.randint(*map(int, a))}
    space: dict[str, Any] = {}
    for key, value in spec.space.items():
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DOMAINS:
            name, args = next(iter(value.items()))
            space[key] = makers[name](args)
        else:
            space[key] = value
    return space


def make_scheduler(spec: SearchSpec):
    """ASHA on the reported epoch (the trial's own epoch counter survives a retry from last.ckpt)."""
    if not spec.scheduler:
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="epoch", **spec.scheduler["asha"])


def make_search_alg(spec: SearchSpec):
    """Grid/random sampling (no extra searcher library): seeded, so a search draws the same trials again."""
    from ray.tune.search import BasicVariantGenerator

    # Tune ignores TuneConfig.max_concurrent_trials with a search algorithm: the generator enforces it
    return BasicVariantGenerator(random_state=spec.seed, max_concurrent=spec.max_concurrent or 0)
