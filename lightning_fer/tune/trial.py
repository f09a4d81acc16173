"""The Tune trainable: one `fer fit` (LightningCLI via make_cli) per trial, in the trial's own directory.

args = base config + the experiment's extra overrides + the trial's sampled values (dotted keys) + the trial
directory as ``trainer.default_root_dir`` + the Tune report callback. So a trial writes what any `fer fit`
writes (config.yaml, metrics.csv, checkpoints/best.ckpt, wandb/) and nothing is trained by a second code path.

With ``workers > 1`` the trial function is the driver of a Ray Train job (:func:`lightning_fer.ray_train.
fit_on_workers`, Ray's pattern for Train inside Tune): W ranks run those same arguments with Ray's DDP strategy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_fer.atomic_write import write_text
from lightning_fer.cli_overrides import override_args
from lightning_fer.run_dirs import RunFolder, resume_args
from lightning_fer.tune.report import for_schedulers, read_epochs

REPORT_CALLBACK = "lightning_fer.tune.report.TuneReport"
WORKERS_REPORT_CALLBACK = "lightning_fer.tune.report.TrainReport"  # multi-worker trials


@dataclass(frozen=True)
class TrialSetup:
    """What every trial shares; saved with the experiment so --resume rebuilds the same trainable."""

    base_config: str  # absolute path
    experiment_dir: str  # absolute; on a file system every Ray node sees
    extra_args: tuple[str, ...] = ()
    cwd: str = ""  # relative paths in the configs resolve from here (the driver's working directory)
    group: str = ""  # wandb group: the experiment name
    workers: int = 1  # ranks per trial: > 1 runs the trial as a Ray Train job
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_failures: int = 0  # restarts of a multi-worker trial's Ray Train job after a worker fails


def run_dir_name(trial_id: str, config: Mapping[str, Any]) -> str:
    """`<trial id>_<short key>=<value>,...`: readable run directories and wandb run names.

    Derived from the trial id and config only, never from Tune's own directory name, which Tune suffixes when a
    restored trial's staging directory already exists: a resumed trial must find its checkpoints again.
    """
    parts = [f"{key.rsplit('.', 1)[-1]}={_short(config[key])}" for key in sorted(config)]
    return f"{trial_id}_{','.join(parts)}"[:120]


def trial_wandb_config(config: Mapping[str, Any], workers: int) -> dict[str, Any]:
    """The sampled values under their short names (``lr``, ``batch_size``, ...) and the trial's ranks; the run adds
    ``global_batch`` (per-rank batch x ranks x accumulation) itself."""
    from lightning_fer.wandb_runs import top_level_values

    return {**top_level_values(config), "workers": workers}


def _short(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("class_path", "x")
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).rsplit(".", 1)[-1] if isinstance(value, str) else str(value)


def trial_args(setup: TrialSetup, config: Mapping[str, Any], trial_dir: Path) -> list[str]:
    """`fer fit` arguments of the trial (without the subcommand)."""
    report = WORKERS_REPORT_CALLBACK if setup.workers > 1 else REPORT_CALLBACK
    args = ["--config", setup.base_config, *setup.extra_args, *override_args(config),
            "--trainer.default_root_dir", str(trial_dir), f"--trainer.callbacks+={report}"]
    if setup.group:  # wandb: the trial's run in the experiment's group, its sampled values at the config's top level
        args += ["--wandb_group", f"tune/{setup.group}", "--wandb_job_type", "trial",
                 "--wandb_config", json.dumps(trial_wandb_config(config, setup.workers))]
    if setup.workers == 1:
        args += ["--trainer.devices", "1"]  # one process per trial; Lightning DDP cannot fork inside a Ray actor
    # a retried or resumed trial continues where it stopped; the ranks of a Ray Train job that Ray restarts
    # after a worker failure rerun these arguments, so they always ask for `last` (none yet: a fresh start)
    return [*args, *(["--ckpt_path", "last"] if setup.workers > 1 else resume_args(trial_dir))]


def train_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """Tune function trainable. A trial that already finished (before a driver crash) replays its history."""
    from ray import tune

    # Tune's trial dir is a local staging copy (synced to storage, new after a restore): train directly in
    # <experiment>/<run dir name> instead, so checkpoints are written once and a resumed trial finds them.
    trial_dir = Path(setup.experiment_dir) / run_dir_name(tune.get_context().get_trial_id(), config)
    trial_dir.mkdir(parents=True, exist_ok=True)
    if setup.cwd and Path(setup.cwd).is_dir():
        os.chdir(setup.cwd)
    if RunFolder(trial_dir).trial_done.is_file():
        for row in read_epochs(trial_dir):
            tune.report(for_schedulers(row))
        return
    args = trial_args(setup, config, trial_dir)
    if setup.workers > 1:
        from lightning_fer.ray_train import Workers, fit_on_workers

        workers = Workers(setup.workers, setup.cpus_per_worker, setup.gpus_per_worker)
        fit_on_workers(args, workers, trial_dir, max_failures=setup.max_failures, report_to_tune=True,
                       cwd=setup.cwd or None)
    else:
        from lightning_fer.lightning_cli import make_cli

        try:
            make_cli(["fit", *args])
        except SystemExit as exit_:  # jsonargparse exits on a bad flag: make it a trial error Tune can show
            raise RuntimeError(f"fer fit {' '.join(args)} exited with {exit_.code} (bad override?)") from None
    epochs = read_epochs(trial_dir)
    done = {"epochs": len(epochs), "config": dict(config)}
    write_text(RunFolder(trial_dir).trial_done, json.dumps(done, default=str))
