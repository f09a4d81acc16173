"""wandb that never blocks: offline automatically without credentials; reports logged as tables/images.

One wandb run per run folder: its id lives in ``<run folder>/wandb_id.txt``, so a SLURM requeue, a retried Tune
trial, and `fer test`/`fer validate` on the folder all log into the same run (Lightning's WandbLogger resumes
with ``resume="allow"``).
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

from lightning_fer.run_dirs import RunFolder


def wandb_has_credentials() -> bool:
    """An API key in the environment or a wandb entry in ~/.netrc (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def folder_run_id(root: str | Path, create: bool = True) -> str | None:
    """The wandb run id of the run folder ``root``: read from ``wandb_id.txt``, else (``create``) made and
    written there atomically. Only global rank 0 creates it (its logger alone creates the run); the others read."""
    path = RunFolder(root).wandb_id
    try:
        run_id = path.read_text().strip()
    except FileNotFoundError:
        run_id = ""
    if run_id or not create:
        return run_id or None
    run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))  # wandb's id form
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(run_id + "\n")
    os.replace(tmp, path)
    return run_id


def wandb_offline() -> bool:
    """Offline when WANDB_MODE says so or no credentials exist: a batch job never waits on a login prompt."""
    return os.environ.get("WANDB_MODE") in ("offline", "dryrun") or not wandb_has_credentials()


class FERWandbLogger(WandbLogger):
    """WandbLogger that goes offline (runs land in save_dir/wandb/offline-run-*, `wandb sync` uploads them
    later) when no credentials exist or WANDB_MODE=offline, so a batch job never waits on a login prompt.

    With ``run_folder`` the run id is the folder's (``wandb_id.txt``), read or made when the run starts: only on
    global rank 0 (Lightning's ``rank_zero_experiment``, after the strategy has set the ranks, Ray Train's
    included), so no other rank writes the id file or starts a run.
    """

    def __init__(self, project: str = "lightning-fer", save_dir: str = "runs", offline: bool | None = None,
                 run_folder: str | Path | None = None, **kwargs: Any) -> None:
        if offline is None:
            offline = wandb_offline()
        if offline:
            os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_SILENT", "true")
        self._run_folder = run_folder
        super().__init__(project=project, save_dir=save_dir, offline=offline, **kwargs)

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            if self._run_folder is not None and not self._wandb_init.get("id"):
                self._id = self._wandb_init["id"] = folder_run_id(self._run_folder)
            Path(self._save_dir).mkdir(parents=True, exist_ok=True)
            import wandb

            if wandb.run is not None and wandb.run.id != self._wandb_init.get("id"):
                # another folder's run left open by an earlier fit/test of this process (fer demo, fer cv):
                # Lightning would log into it instead of this folder's run
                wandb.finish()
        return WandbLogger.experiment.fget(self)


def log_report(loggers: list, report) -> None:
    """Send a Table 3 report and its confusion matrix to every wandb logger among ``loggers``."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            columns = [c.replace("\\", "/") for c in report.table_columns]
            logger.log_table(key=f"{report.stage}/table3", columns=columns,
                             data=[[str(v) for v in row] for row in report.table_rows])
            logger.log_image(key=f"{report.stage}/confusion_matrix", images=[str(report.confusion_png)])
            logger.log_metrics({f"{report.stage}/accuracy": report.metrics["accuracy"]})
            if evaluation := report.metrics.get("evaluation"):
                _log_evaluation(logger, report.stage, evaluation)


def _log_evaluation(logger: WandbLogger, stage: str, evaluation: dict) -> None:
    """Clip-level and balanced metrics with their interval bounds, and the per-subject table."""
    scalars = {}
    for name, entry in evaluation["metrics"].items():
        scalars[f"{stage}/{name}"] = entry["value"]
        if entry["ci"][0] is not None:
            scalars[f"{stage}/{name}_ci_low"], scalars[f"{stage}/{name}_ci_high"] = entry["ci"]
    logger.log_metrics(scalars)
    columns = ["subject", "frames", "frame_accuracy", "clips", "clip_accuracy"]
    logger.log_table(key=f"{stage}/per_subject", columns=columns,
                     data=[[s, *(v[c] for c in columns[1:])] for s, v in evaluation["per_subject"].items()])


def log_sample_frames(loggers: list, frames, labels, class_names: tuple[str, ...], key: str = "val/samples",
                      count: int = 8) -> None:
    """Show wandb what the model sees: the first preprocessed frames of a batch, rescaled to 0-255 per frame."""
    wandb_loggers = [lg for lg in loggers if isinstance(lg, WandbLogger)]
    if not wandb_loggers:
        return
    images, captions = [], []
    for frame, label in zip(frames[:count], labels[:count], strict=False):
        x = frame[0].float()
        x = (x - x.min()) / (x.max() - x.min() + 1e-6) * 255
        images.append(x.to("cpu", dtype=torch.uint8).numpy())
        captions.append(class_names[int(label)])
    for logger in wandb_loggers:
        logger.log_image(key=key, images=images, caption=captions)
