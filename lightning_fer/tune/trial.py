"""The Tune trainable: one `fer fit` (LightningCLI via make_cli) per trial, in the trial's own directory.

args = base config + the experiment's extra overrides + the trial's sampled values (dotted keys) + the trial
directory as ``trainer.default_root_dir`` + the Tune report callback. So a trial writes what any `fer fit`
writes (config.yaml, metrics.csv, checkpoints/best.ckpt, wandb/) and nothing is trained by a second code path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_fer.atomic_write import write_text
from lightning_fer.run_dirs import resume_args
from lightning_fer.tune.report import read_epochs

DONE_FILE = "trial_done.json"
REPORT_CALLBACK = "lightning_fer.tune.report.TuneReport"


@dataclass(frozen=True)
class TrialSetup:
    """What every trial shares; saved with the experiment so --resume rebuilds the same trainable."""

    base_config: str  # absolute path
    experiment_dir: str  # absolute; on a file system every Ray node sees
    extra_args: tuple[str, ...] = ()
    cwd: str = ""  # relative paths in the configs resolve from here (the driver's working directory)
    group: str = ""  # wandb group: the experiment name
    single_device: bool = True
    notes: dict[str, Any] = field(default_factory=dict)


def override_args(config: Mapping[str, Any]) -> list[str]:
    """Sampled values as LightningCLI flags; sorted so a class_path choice precedes its init_args overrides."""
    args: list[str] = []
    for key in sorted(config):
        value = config[key]
        if isinstance(value, dict | list):
            text = json.dumps(value)
        elif value is None:
            text = "null"
        else:
            text = str(value)
        args += [f"--{key}", text]
    return args


def run_dir_name(trial_id: str, config: Mapping[str, Any]) -> str:
    """`<trial id>_<short key>=<value>,...`: readable run directories and wandb run names.

    Derived from the trial id and config only, never from Tune's own directory name, which Tune suffixes when a
    restored trial's staging directory already exists: a resumed trial must find its checkpoints again.
    """
    parts = [f"{key.rsplit('.', 1)[-1]}={_short(config[key])}" for key in sorted(config)]
    return f"{trial_id}_{','.join(parts)}"[:120]


def _short(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("class_path", "x")
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).rsplit(".", 1)[-1] if isinstance(value, str) else str(value)


def trial_args(setup: TrialSetup, config: Mapping[str, Any], trial_dir: Path) -> list[str]:
    args = ["fit", "--config", setup.base_config, *setup.extra_args, *override_args(config),
            "--trainer.default_root_dir", str(trial_dir), f"--trainer.callbacks+={REPORT_CALLBACK}"]
    if setup.group:
        args += ["--wandb_group", setup.group]
    if setup.single_device:
        args += ["--trainer.devices", "1"]  # one process per trial; Lightning DDP cannot fork inside a Ray actor
    return [*args, *resume_args(trial_dir)]  # a retried or resumed trial continues where it stopped


def train_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """Tune function trainable. A trial that already finished (before a driver crash) replays its history."""
    from ray import tune

    # Tune's trial dir is a local staging copy (synced to storage, new after a restore): train directly in
    # <experiment>/<run dir name> instead, so checkpoints are written once and a resumed trial finds them.
    trial_dir = Path(setup.experiment_dir) / run_dir_name(tune.get_context().get_trial_id(), config)
    trial_dir.mkdir(parents=True, exist_ok=True)
    if setup.cwd and Path(setup.cwd).is_dir():
        os.chdir(setup.cwd)
    if (trial_dir / DONE_FILE).is_file():
        for row in read_epochs(trial_dir):
            tune.report(row)
        return
    from lightning_fer.lightning_cli import make_cli

    args = trial_args(setup, config, trial_dir)
    try:
        make_cli(args)
    except SystemExit as exit_:  # jsonargparse exits on a bad flag: make it a trial error Tune can show
        raise RuntimeError(f"fer {' '.join(args)} exited with {exit_.code} (bad override?)") from None
    epochs = read_epochs(trial_dir)
    write_text(trial_dir / DONE_FILE, json.dumps({"epochs": len(epochs), "config": dict(config)}, default=str))
