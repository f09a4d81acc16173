"""What a run folder's wandb run shows: its name, group, job type, tags, config and summary (docs/WANDB.md).

- name: the run folder's name (a trial, a scale point, a fold, a protocol, `demo`).
- group: ``--wandb_group`` (the study: ``tune/<name>``, ``scale/<study>``, ``cv/<name>``, ``protocols/<name>``),
  else the folder's parent's name.
- job_type: ``--wandb_job_type`` (trial, point, fold, protocol), else ``fit``, and for `fer test`/`fer validate`
  ``fit`` too when the folder holds a trained run (its run was made by a fit), else ``test``/``validate``: every
  invocation into one folder logs the same job type, so a requeue or a later test does not retype the run.
- tags: ``protocol=<data.protocol>``, ``loader=<data.loader>``, ``params_id=<the crop pass's params_id>``.
- config: the resolved LightningCLI config, plus ``--wandb_config`` (a trial's or point's sampled values:
  ``lr``, ``batch_size``, ...) and ``global_batch``, ``world_size``, ``nodes`` at the top level.
- summary (:class:`WandbRunSummary`): ``best/val_loss``, ``best/epoch``, ``best/val_clip_acc`` (at that epoch),
  ``best/val_acc``, ``train/img_per_s``, ``global_batch``, ``world_size``, ``nodes``; `fer test` adds
  ``test/<metric>`` with ``test/<metric>_ci_low``/``_ci_high`` (lightning_fer.loggers.log_report).
- ``--wandb.log_model true`` (off by default): ``checkpoints/best.ckpt`` becomes a ``model`` artifact of the run.

Only global rank 0 touches wandb (Lightning's ``rank_zero_experiment``): one run per folder at any world size.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


@dataclass
class WandbOptions:
    """``wandb: true`` or a mapping: ``--wandb.log_model true`` (implies ``enabled``)."""

    enabled: bool = True
    log_model: bool = False  # upload checkpoints/best.ckpt as a model artifact at the end of fit


def wandb_options(value: Any) -> WandbOptions | None:
    """The ``wandb`` setting (a bool, a mapping or a parsed namespace) as options; None when off."""
    if value is None or value is False:
        return None
    if value is True:
        return WandbOptions()
    if isinstance(value, WandbOptions):
        return value if value.enabled else None
    if not isinstance(value, Mapping):
        value = vars(value)  # a jsonargparse Namespace
    options = WandbOptions(enabled=bool(value.get("enabled", True)), log_model=bool(value.get("log_model", False)))
    return options if options.enabled else None


@dataclass
class RunIdentity:
    name: str
    group: str
    job_type: str
    tags: list[str] = field(default_factory=list)


def run_identity(root: str | Path, subcommand: str | None, group: str | None = None, job_type: str | None = None,
                 data: Mapping[str, Any] | None = None) -> RunIdentity:
    """Name, group, job type and tags of the wandb run of run folder ``root`` (see the module docstring)."""
    from lightning_fer.run_dirs import holds_run

    root = Path(root).resolve()
    if not job_type:
        job_type = "fit" if subcommand in (None, "fit") or holds_run(root) else subcommand
    return RunIdentity(name=root.name, group=group or root.parent.name, job_type=job_type, tags=run_tags(data or {}))


def run_tags(data: Mapping[str, Any]) -> list[str]:
    """``protocol=``, ``loader=`` and ``params_id=`` (the crop pass's, from ``<data_dir>/prepare.json``)."""
    tags = [f"{key}={data[key]}" for key in ("protocol", "loader") if data.get(key) is not None]
    params_id = _params_id(data.get("data_dir"))
    if params_id:
        tags.append(f"params_id={params_id}")
    return tags


def _params_id(data_dir: str | None) -> str | None:
    if not data_dir:
        return None
    from lightning_fer.errors import UserError
    from lightning_fer.prepare.manifest import read_prepare_info

    try:
        return read_prepare_info(data_dir).get("params_id")
    except (UserError, OSError, ValueError):
        return None


def top_level_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Sampled LightningCLI keys under their last name (``model.optimizer.init_args.lr`` -> ``lr``); a class
    choice (``{class_path: torch.optim.SGD, ...}``) as its class name."""
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if isinstance(value, Mapping):
            value = str(value.get("class_path", value)).rsplit(".", 1)[-1]
        out[str(key).rsplit(".", 1)[-1]] = value
    return out


def wandb_loggers(trainer: pl.Trainer) -> list:
    from pytorch_lightning.loggers import WandbLogger

    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


class WandbRunSummary(pl.Callback):
    """The run's summary keys and top-level config (rank 0 only), and the best.ckpt artifact when asked.

    The best epoch is kept in the callback's checkpoint state, so a resumed run (requeue, retried trial) compares
    against the epochs it trained before the interruption.
    """

    def __init__(self, log_model: bool = False, monitor: str = "val_loss") -> None:
        self.log_model = log_model
        self.monitor = monitor
        self.best: dict[str, float] = {}
        self._images = 0
        self._seconds = 0.0
        self._epoch_start: float | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = dict(state_dict.get("best") or {})

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero:  # the training batch: not what test/validate evaluate with
            self._update(trainer, config=True, values=scale_values(trainer))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._epoch_start is None:
            return
        frames = batch[0] if isinstance(batch, list | tuple) else batch
        self._images += int(getattr(frames, "shape", [0])[0]) * trainer.world_size
        now = time.monotonic()
        self._seconds += now - self._epoch_start
        self._epoch_start = now  # the next batch's time counts from here (validation is not in between)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after the epoch's metrics reached callback_metrics (as ModelCheckpoint, which saves best.ckpt here too)
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            return
        value = float(metrics[self.monitor])
        if not self.best or value < self.best[f"best/{self.monitor}"]:
            self.best = {f"best/{self.monitor}": value, "best/epoch": trainer.current_epoch,
                         **{f"best/{k}": float(metrics[k]) for k in ("val_clip_acc", "val_acc") if k in metrics}}
        if trainer.is_global_zero:
            self._update(trainer, values=self.best)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = None
        if trainer.is_global_zero and self._seconds > 0:
            self._update(trainer, values={"train/img_per_s": self._images / self._seconds})

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self.log_model and trainer.is_global_zero):
            return
        from lightning_fer.run_dirs import RunFolder

        best = RunFolder(trainer.default_root_dir).best_checkpoint
        for logger in wandb_loggers(trainer):
            if best.is_file():
                log_model_artifact(logger.experiment, best, self.best)

    def _update(self, trainer: pl.Trainer, values: Mapping[str, Any], config: bool = False) -> None:
        for logger in wandb_loggers(trainer):
            run = logger.experiment
            run.summary.update(dict(values))
            if config:
                run.config.update(dict(values), allow_val_change=True)


def scale_values(trainer: pl.Trainer) -> dict[str, Any]:
    """Global batch (per-device batch x world size x accumulation), world size and nodes of this trainer."""
    hparams = getattr(getattr(trainer, "datamodule", None), "hparams", None) or {}
    batch = hparams.get("batch_size")
    values: dict[str, Any] = {"world_size": trainer.world_size, "nodes": trainer.num_nodes}
    if batch is not None:
        values["global_batch"] = int(batch) * trainer.world_size * trainer.accumulate_grad_batches
    return values


def log_model_artifact(run, checkpoint: Path, metadata: Mapping[str, Any]) -> None:
    """``checkpoints/best.ckpt`` as the run's ``model`` artifact ``model-<run id>`` (aliases best, latest)."""
    import wandb

    artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata=dict(metadata),
                              description="best.ckpt: the lowest-val_loss weights (weights only)")
    artifact.add_file(str(checkpoint), name="best.ckpt")
    run.log_artifact(artifact, aliases=["best", "latest"])
