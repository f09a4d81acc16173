"""The LightningModule: cross-entropy on the paper's ResNet-50, torchmetrics for val/test.

One ``_step`` serves train/val/test. Loss and metrics are torchmetrics objects, so under DDP they
are reduced over every rank's samples exactly (sum of losses / sum of counts), not averaged per rank.
The module writes no files: each evaluation's results stay in ``eval_results`` for the callbacks
(lightning_fer.callbacks.reports writes the test report and logs sample frames). Every checkpoint it is saved
in carries ``checkpoint["fer"]`` (lightning_fer.checkpoint_record.training_record), weights-only ones too, so
inference needs nothing but the checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassPrecision,
    MulticlassRecall,
)

from lightning_fer.classes import CLASSES
from lightning_fer.evaluation.collector import FrameOutputs
from lightning_fer.model import HIDDEN_SIZE, PaperResNet50


@dataclass(frozen=True)
class EvalResults:
    """One evaluation epoch's totals over every rank: the confusion matrix (CPU), the mean loss and (test, when
    the loader gives clip ids) the clip-level / balanced / per-subject summary built on rank 0."""

    confmat: torch.Tensor
    loss: float
    evaluation: object | None = None  # lightning_fer.evaluation.EvalSummary


class FERModule(pl.LightningModule):
    """Classifies N x 1 x 112 x 112 face frames into the six expressions."""

    def __init__(
        self,
        num_classes: int = len(CLASSES),
        hidden_size: int = HIDDEN_SIZE,  # the FC hidden layer (the paper gives no size)
        dropout: float = 0.25,  # the paper's dropout
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,  # faster convolutions on GPUs (and on CPU with oneDNN)
        label_smoothing: float = 0.0,
        class_weighted_loss: bool = False,  # training loss weighted by inverse training-split class frequency
        init_from: str | None = None,  # torchvision ResNet-50 state dict or fer checkpoint (lightning_fer.transfer)
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = PaperResNet50(num_classes=num_classes, hidden_size=hidden_size, dropout=dropout)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)  # val/test: plain, comparable
        # filled from the training split in setup("fit"); not in checkpoints, so any run can test any checkpoint
        self.register_buffer("class_weights", torch.ones(num_classes) if class_weighted_loss else None,
                             persistent=False)
        self.test_outputs = FrameOutputs()  # per-frame probabilities and clip ids for the evaluation summary
        self.val_outputs = FrameOutputs()  # the same in validation, for val_clip_acc
        self.optimizer_factory, self.scheduler_factory = optimizer, lr_scheduler
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.losses = nn.ModuleDict({f"{s}_": MeanMetric() for s in ("train", "val", "test")})  # "train" is taken
        self.eval_metrics = nn.ModuleDict({f"{s}_": self._eval_collection(num_classes) for s in ("val", "test")})
        self.class_names: tuple[str, ...] = tuple(str(i) for i in range(num_classes))
        self.eval_results: dict[str, EvalResults] = {}  # "val" / "test": the latest epoch's, for the callbacks
        self._fer_record: dict | None = None  # checkpoint["fer"], built at the first save

    @staticmethod
    def _eval_collection(num_classes: int) -> MetricCollection:
        return MetricCollection({
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "precision": MulticlassPrecision(num_classes, average=None),
            "recall": MulticlassRecall(num_classes, average=None),
            "confmat": MulticlassConfusionMatrix(num_classes),
        })

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "class_names"):
            self.class_names = tuple(datamodule.class_names)
        if stage == "fit" and self.hparams.class_weighted_loss and datamodule is not None:
            from lightning_fer.data.balance import class_frames, class_weights

            counts = class_frames(datamodule.splits["train"], self.hparams.num_classes)
            self.class_weights.copy_(torch.as_tensor(class_weights(counts), dtype=self.class_weights.dtype))
            if self.trainer.is_global_zero:
                print("class-weighted loss: " + ", ".join(f"{name} {w:.3f}" for name, w in
                                                          zip(self.class_names, self.class_weights.tolist(),
                                                              strict=True)))
        if stage == "fit" and self.hparams.init_from:  # a resume (--ckpt_path) restores its own weights after this
            from lightning_fer.transfer import load_initial_weights

            load_initial_weights(self.model, self.hparams.init_from)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        return self.model(frames)

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        frames, labels = batch[0], batch[1]  # evaluation batches also carry clip ids
        logits = self(frames)
        loss = self.loss(logits, labels, stage)
        self.losses[f"{stage}_"].update(loss.detach(), weight=labels.numel())
        self.log(f"{stage}_loss", self.losses[f"{stage}_"], on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=labels.numel())
        preds = logits.argmax(dim=1)
        if stage == "train":
            self.train_acc.update(preds, labels)
            self.log("train_acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True,
                     batch_size=labels.numel())
            self.log("train_loss_step", loss.detach(), on_step=True, on_epoch=False, batch_size=labels.numel())
        else:
            self.eval_metrics[f"{stage}_"].update(preds, labels)
        return loss, logits

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, stage: str) -> torch.Tensor:
        """Cross-entropy; in training weighted per class when ``class_weighted_loss`` (weighted mean, as torch)."""
        if stage == "train" and self.class_weights is not None:
            return nn.functional.cross_entropy(logits, labels, weight=self.class_weights,
                                               label_smoothing=self.hparams.label_smoothing)
        return self.criterion(logits, labels)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch, batch_idx: int) -> None:
        _, logits = self._step(batch, "val")
        if len(batch) > 2:
            self.val_outputs.add(logits, batch[1], batch[2])

    def test_step(self, batch, batch_idx: int) -> None:
        _, logits = self._step(batch, "test")
        if len(batch) > 2:
            self.test_outputs.add(logits, batch[1], batch[2])

    def _end_eval_epoch(self, stage: str) -> None:
        from lightning_fer.evaluation.metrics import macro_f1

        results = self.eval_metrics[f"{stage}_"].compute()
        self.log(f"{stage}_acc", results["acc"], prog_bar=True)
        for name in ("precision", "recall"):
            self.log(f"{stage}_{name}_macro", results[name].mean())
        self.log(f"{stage}_f1_macro", macro_f1(results["confmat"].cpu().numpy()))  # the report's definition
        self.eval_results[stage] = EvalResults(results["confmat"].cpu(), float(self.losses[f"{stage}_"].compute()))
        self.eval_metrics[f"{stage}_"].reset()

    def on_validation_epoch_start(self) -> None:
        self.val_outputs.reset()

    def on_validation_epoch_end(self) -> None:
        self._end_eval_epoch("val")
        self._log_val_clip_accuracy()

    def _log_val_clip_accuracy(self) -> None:
        """``val_clip_acc``: a clip's label from its frames' mean probabilities, over every rank's frames (all
        ranks gather all frames, so each logs the same value). Skipped when batches carry no clip ids."""
        from lightning_fer.evaluation.metrics import accuracy, clip_level, confusion

        probs, labels, clips = self.val_outputs.gather(self, self.trainer.world_size, self.hparams.num_classes,
                                                       self.device)  # empty when no batch had clip ids
        self.val_outputs.reset()
        if len(labels):
            clip = clip_level(probs, labels, clips)
            self.log("val_clip_acc", accuracy(confusion(clip.labels, clip.preds, self.hparams.num_classes)))

    def on_test_epoch_start(self) -> None:
        self.test_outputs.reset()

    def on_test_epoch_end(self) -> None:
        self._end_eval_epoch("test")
        evaluation = self._evaluation_summary("test")  # a collective: every rank gathers
        if evaluation is not None:
            self.eval_results["test"] = dataclasses.replace(self.eval_results["test"], evaluation=evaluation)

    def _evaluation_summary(self, split: str):
        """Clip-level, balanced and per-subject results with intervals, or None without clip ids."""
        identity = getattr(getattr(self.trainer, "datamodule", None), "identities", {}).get(split)
        probs, labels, clips = self.test_outputs.gather(self, self.trainer.world_size, self.hparams.num_classes,
                                                        self.device)
        self.test_outputs.reset()
        if identity is None or not len(labels) or not self.trainer.is_global_zero:
            return None
        from lightning_fer.evaluation import FramePredictions, evaluate

        return evaluate(FramePredictions(probs, labels, clips, identity.subjects, identity.clips),
                        self.hparams.num_classes)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record classes, normalization (with dataset statistics), crop parameters and model settings as
        ``checkpoint["fer"]``. Lightning calls this hook for weights-only checkpoints too (best.ckpt)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "normalization"):
            return
        from lightning_fer.checkpoint_record import RECORD_KEY, training_record

        if self._fer_record is None:  # the same for every checkpoint of a run: prepare.json as the data module read it
            self._fer_record = training_record(datamodule.prepare_info(), tuple(datamodule.class_names),
                                               datamodule.normalization(), dict(self.hparams))
        checkpoint[RECORD_KEY] = self._fer_record

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer),
                                                         "interval": "epoch"}}
