"""Metrics from confusion matrices (rows = actual, columns = predicted) and clip-level aggregation of frames.

Every statistic is a function of a confusion matrix, so a bootstrap resample only has to add up
per-group matrices (see :mod:`lightning_fer.evaluation.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """C x C int64 counts, row = actual class, column = predicted class."""
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    return np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def accuracy(confmat: np.ndarray) -> float:
    total = confmat.sum()
    return float(np.trace(confmat) / total) if total else float("nan")


def balanced_accuracy(confmat: np.ndarray) -> float:
    """Mean recall over the classes present in the labels: chance is 1/classes however skewed the test set."""
    support = confmat.sum(axis=-1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float((np.diagonal(confmat)[present] / support[present]).mean())


MACRO_F1_DEFINITION = ("macro-F1: the mean F1 over all {classes} classes of the task; a class with neither "
                       "labels nor predictions counts F1 = 0")


def macro_f1(confmat: np.ndarray) -> float:
    """Mean F1 over all C classes of the task (the matrix's size), a class that is neither a label nor a
    prediction counting 0: the one definition, logged in training (``*_f1_macro``) and in the test report alike
    (torchmetrics' per-class F1 averaged over every class). NaN for an empty matrix."""
    diag = np.diagonal(confmat).astype(np.float64)
    support, predicted = confmat.sum(axis=-1), confmat.sum(axis=-2)
    if not confmat.sum():
        return float("nan")
    f1 = np.divide(2 * diag, support + predicted, out=np.zeros_like(diag), where=(support + predicted) > 0)
    return float(f1.mean())


@dataclass(frozen=True)
class ClipLevel:
    """One row per clip: its id, true label, mean frame probabilities, predicted label, frame count."""

    clip_ids: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    preds: np.ndarray
    frames: np.ndarray


def clip_level(probs: np.ndarray, labels: np.ndarray, clip_ids: np.ndarray) -> ClipLevel:
    """A clip's prediction is the argmax of its frames' mean probabilities (soft voting over frames)."""
    probs, labels, clip_ids = np.asarray(probs, np.float64), np.asarray(labels), np.asarray(clip_ids)
    ids, first, inverse, counts = np.unique(clip_ids, return_index=True, return_inverse=True, return_counts=True)
    sums = np.zeros((len(ids), probs.shape[1]))
    np.add.at(sums, inverse, probs)
    clip_labels = labels[first]
    if (clip_labels[inverse] != labels).any():
        bad = ids[np.unique(inverse[clip_labels[inverse] != labels])]
        raise ValueError(f"clips {bad.tolist()[:5]} have frames with different labels")
    mean = sums / counts[:, None]
    return ClipLevel(ids, clip_labels.astype(np.int64), mean, mean.argmax(axis=1), counts)
