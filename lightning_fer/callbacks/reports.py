"""The run's I/O beside training: the test report files and the sample frames shown to wandb.

The CLI adds both to every run (LightningCLI ``trainer_defaults`` callbacks), so the LightningModule only
computes metrics (``FERModule.eval_results``) and writes nothing itself.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from lightning_fer.loggers import log_report, log_sample_frames
from lightning_fer.run_dirs import RunFolder


class TestReportWriter(pl.Callback):
    """At the end of `fer test`: Table 3 (markdown), the confusion PNG and metrics JSON into
    ``<default_root_dir>/reports/``, printed, and sent to wandb when it logs."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, out_dir: str | None = None) -> None:
        self.out_dir = out_dir  # None: the run folder's reports/ (RunFolder.reports)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        results = getattr(pl_module, "eval_results", {}).get("test")
        if results is None or not trainer.is_global_zero:
            return
        from lightning_fer.reports import write_eval_report

        protocol = getattr(trainer.datamodule, "protocol", "unknown")
        checkpoint = str(trainer.ckpt_path) if trainer.ckpt_path else None
        report = write_eval_report(results.confmat, tuple(pl_module.class_names),
                                   self._out_dir(trainer), "test", protocol=protocol,
                                   loss=results.loss, checkpoint=checkpoint, evaluation=results.evaluation)
        print(report.markdown)
        log_report(trainer.loggers, report)


    def _out_dir(self, trainer: pl.Trainer) -> Path:
        folder = RunFolder(trainer.default_root_dir)
        return folder.root / self.out_dir if self.out_dir else folder.reports


class SampleFrameLogger(pl.Callback):
    """Show wandb what the model sees: the first preprocessed frames of the first validation batch."""

    def __init__(self, count: int = 8) -> None:
        self.count = count

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == 0 and trainer.current_epoch == 0 and trainer.is_global_zero:
            log_sample_frames(trainer.loggers, batch[0], batch[1], tuple(pl_module.class_names), count=self.count)
