"""wandb that never blocks: offline automatically without credentials; reports logged as tables/images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.loggers import WandbLogger


def wandb_has_credentials() -> bool:
    """An API key in the environment or a wandb entry in ~/.netrc (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


class FERWandbLogger(WandbLogger):
    """WandbLogger that goes offline (runs land in save_dir/wandb/offline-run-*, `wandb sync` uploads them
    later) when no credentials exist or WANDB_MODE=offline, so a batch job never waits on a login prompt."""

    def __init__(self, project: str = "lightning-fer", save_dir: str = "runs", offline: bool | None = None,
                 **kwargs: Any) -> None:
        if offline is None:
            offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun") or not wandb_has_credentials()
        if offline:
            os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_SILENT", "true")
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(project=project, save_dir=save_dir, offline=offline, **kwargs)


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
