"""Evaluation a reviewer can trust: clip-level and per-subject results, balanced metrics, bootstrap intervals.

Pure NumPy on per-frame probabilities, labels and clip ids (no Lightning): :func:`evaluate` returns an
:class:`EvalSummary` (a JSON-able dict and a markdown section for the Table 3 report).
"""

from lightning_fer.evaluation.bootstrap import BootstrapSettings
from lightning_fer.evaluation.metrics import (
    ClipLevel,
    accuracy,
    balanced_accuracy,
    clip_level,
    confusion,
    macro_f1,
)
from lightning_fer.evaluation.summary import EvalSummary, FramePredictions, evaluate

__all__ = ["BootstrapSettings", "ClipLevel", "EvalSummary", "FramePredictions", "accuracy", "balanced_accuracy",
           "clip_level", "confusion", "evaluate", "macro_f1"]
