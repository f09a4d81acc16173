"""Evaluation reports in the paper's form: Table 3 (confusion counts, Total, Precision, Accuracy per
class, Average row), a confusion-matrix PNG and per-class metrics JSON, written atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lightning_fer.atomic_write import write_text
from lightning_fer.markdown import markdown_table
from lightning_fer.plotting import pyplot, save_figure
from lightning_fer.run_dirs import report_file


@dataclass
class EvalReport:
    stage: str
    protocol: str
    markdown: str
    metrics: dict
    table_rows: list[list]
    table_columns: list[str]
    confusion_png: Path
    files: list[Path]


def table3(confmat: np.ndarray, class_names: tuple[str, ...]) -> tuple[list[str], list[list]]:
    """Rows per actual class: predicted counts, Total, Precision, Accuracy (recall); then an Average row.

    Precision of class c is the share of frames predicted c that are c (column-wise), Accuracy the
    share of frames of class c predicted c (row-wise), both in percent as the paper prints them.
    """
    confmat = np.asarray(confmat, dtype=np.int64)
    totals = confmat.sum(axis=1)
    predicted = confmat.sum(axis=0)
    diag = np.diag(confmat)
    precision = np.divide(diag, predicted, out=np.zeros(len(diag)), where=predicted > 0) * 100
    recall = np.divide(diag, totals, out=np.zeros(len(diag)), where=totals > 0) * 100
    columns = ["Actual \\ Predicted", *class_names, "Total", "Precision (%)", "Accuracy (%)"]
    rows = [[name, *map(int, confmat[i]), int(totals[i]), round(float(precision[i]), 2), round(float(recall[i]), 2)]
            for i, name in enumerate(class_names)]
    present = totals > 0
    rows.append(["Average", *[""] * len(class_names), int(totals.sum()),
                 round(float(precision[present].mean()) if present.any() else 0.0, 2),
                 round(float(recall[present].mean()) if present.any() else 0.0, 2)])
    return columns, rows


def per_class_metrics(confmat: np.ndarray, class_names: tuple[str, ...]) -> dict:
    confmat = np.asarray(confmat, dtype=np.int64)
    diag, totals, predicted = np.diag(confmat), confmat.sum(axis=1), confmat.sum(axis=0)
    metrics = {}
    for i, name in enumerate(class_names):
        p = diag[i] / predicted[i] if predicted[i] else 0.0
        r = diag[i] / totals[i] if totals[i] else 0.0
        metrics[name] = {"precision": float(p), "recall": float(r),
                         "f1": float(2 * p * r / (p + r)) if p + r else 0.0, "support": int(totals[i])}
    return metrics


def plot_confusion(confmat: np.ndarray, class_names: tuple[str, ...], path: Path, title: str) -> Path:
    plt = pyplot()

    confmat = np.asarray(confmat, dtype=np.int64)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(confmat, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    threshold = confmat.max() / 2 if confmat.size else 0
    for (i, j), value in np.ndenumerate(confmat):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    return save_figure(fig, path)


def write_eval_report(confmat: torch.Tensor | np.ndarray, class_names: tuple[str, ...], out_dir: Path, stage: str,
                      protocol: str, loss: float | None = None, checkpoint: str | None = None,
                      evaluation=None) -> EvalReport:
    """Write Table 3 (markdown), the confusion PNG and metrics JSON for one evaluation into ``out_dir``.

    ``evaluation`` (a :class:`lightning_fer.evaluation.EvalSummary`) adds clip-level, balanced and per-subject
    results with bootstrap intervals: a section under Table 3 and ``metrics["evaluation"]``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    confmat = np.asarray(confmat.numpy() if isinstance(confmat, torch.Tensor) else confmat, dtype=np.int64)
    columns, rows = table3(confmat, class_names)
    accuracy = float(np.trace(confmat) / confmat.sum()) if confmat.sum() else 0.0
    metrics = {"stage": stage, "protocol": protocol, "accuracy": accuracy, "loss": loss, "frames": int(confmat.sum()),
               "checkpoint": checkpoint, "per_class": per_class_metrics(confmat, class_names),
               "confusion_matrix": confmat.tolist(), "class_names": list(class_names)}
    header = (f"### {stage} report - protocol `{protocol}` - accuracy {accuracy * 100:.2f}% "
              f"on {int(confmat.sum())} frames" + (f", loss {loss:.4f}" if loss is not None else ""))
    markdown = header + "\n\n" + markdown_table(columns, rows) + "\n"
    if evaluation is not None:
        metrics["evaluation"] = evaluation.to_dict()
        markdown += "\n" + evaluation.markdown(class_names)
    files = [write_text(report_file(out_dir, stage, "table3.md"), markdown),
             write_text(report_file(out_dir, stage, "metrics.json"), json.dumps(metrics, indent=2))]
    png = plot_confusion(confmat, class_names, report_file(out_dir, stage, "confusion.png"),
                         f"{stage} ({protocol} split) - acc {accuracy * 100:.1f}%")
    return EvalReport(stage, protocol, markdown, metrics, rows, columns, png, [*files, png])
