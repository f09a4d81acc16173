"""From per-frame probabilities to the numbers a reviewer asks for, as a JSON-able dict and a markdown section.

Frame and clip level (a clip's label from its frames' mean probabilities), each with accuracy, balanced
accuracy and macro-F1 and a 95% bootstrap interval; per-subject accuracy; the clip confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lightning_fer.evaluation.bootstrap import BootstrapSettings, bootstrap_intervals
from lightning_fer.evaluation.metrics import (
    MACRO_F1_DEFINITION,
    accuracy,
    balanced_accuracy,
    clip_level,
    confusion,
    macro_f1,
)

STATS = {"accuracy": accuracy, "balanced_accuracy": balanced_accuracy, "macro_f1": macro_f1}
LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1"}


@dataclass(frozen=True)
class FramePredictions:
    """One row per evaluated frame; ``clip_ids`` index ``clip_subjects`` (the subject of each clip of the split)."""

    probs: np.ndarray  # N x C
    labels: np.ndarray  # N
    clip_ids: np.ndarray  # N
    clip_subjects: Sequence[str]
    clip_names: Sequence[str] = field(default_factory=tuple)  # optional, for the JSON


@dataclass(frozen=True)
class EvalSummary:
    data: dict

    def to_dict(self) -> dict:
        return self.data

    def markdown(self, class_names: Sequence[str]) -> str:
        return render_markdown(self.data, class_names)


def evaluate(preds: FramePredictions, num_classes: int,
             settings: BootstrapSettings = BootstrapSettings()) -> EvalSummary:
    probs = np.asarray(preds.probs, dtype=np.float64)
    labels = np.asarray(preds.labels, dtype=np.int64)
    clip_ids = np.asarray(preds.clip_ids, dtype=np.int64)
    subjects_of_clip = np.asarray(preds.clip_subjects, dtype=object)
    frame_preds = probs.argmax(axis=1)
    clips = clip_level(probs, labels, clip_ids)
    frame_cm, clip_cm = confusion(labels, frame_preds, num_classes), confusion(clips.labels, clips.preds, num_classes)
    frame_subject = subjects_of_clip[clip_ids]
    clip_subject = subjects_of_clip[clips.clip_ids]
    subjects = sorted(set(frame_subject.tolist()))
    unit = "subject" if len(subjects) >= settings.min_subjects else "clip"
    if unit == "subject":
        groups = subjects
        frame_group, clip_group = frame_subject, clip_subject
    else:
        groups = clips.clip_ids.tolist()
        frame_group, clip_group = clip_ids, clips.clip_ids
    group_cms = {
        "frame": np.stack([confusion(labels[frame_group == g], frame_preds[frame_group == g], num_classes)
                           for g in groups]) if groups else np.zeros((0, num_classes, num_classes), np.int64),
        "clip": np.stack([confusion(clips.labels[clip_group == g], clips.preds[clip_group == g], num_classes)
                          for g in groups]) if groups else np.zeros((0, num_classes, num_classes), np.int64),
    }
    intervals = bootstrap_intervals(group_cms, STATS, settings)
    point = {f"{kind}_{name}": fn(cm) for kind, cm in (("frame", frame_cm), ("clip", clip_cm))
             for name, fn in STATS.items()}
    per_subject = {}
    for subject in subjects:
        f_mask, c_mask = frame_subject == subject, clip_subject == subject
        per_subject[subject] = {
            "frames": int(f_mask.sum()), "frame_accuracy": float((frame_preds[f_mask] == labels[f_mask]).mean()),
            "clips": int(c_mask.sum()), "clip_accuracy": float((clips.preds[c_mask] == clips.labels[c_mask]).mean()),
        }
    reason = (f"{len(subjects)} subjects >= {settings.min_subjects}" if unit == "subject" else
              f"only {len(subjects)} subject(s), fewer than {settings.min_subjects}")
    data = {
        "frames": int(len(labels)), "clips": int(len(clips.clip_ids)), "subjects": len(subjects),
        "macro_f1_definition": MACRO_F1_DEFINITION.format(classes=num_classes),
        "metrics": {key: {"value": value, "ci": intervals.get(key, [None, None])} for key, value in point.items()},
        "clip_confusion_matrix": clip_cm.tolist(),
        "per_subject": per_subject,
        "bootstrap": {"unit": unit, "groups": len(groups), "resamples": settings.resamples, "level": settings.level,
                      "seed": settings.seed, "min_subjects": settings.min_subjects, "reason": reason},
    }
    if len(preds.clip_names):
        data["per_clip"] = [{"clip": str(preds.clip_names[int(c)]), "subject": str(subjects_of_clip[int(c)]),
                             "label": int(y), "predicted": int(p), "frames": int(n)}
                            for c, y, p, n in zip(clips.clip_ids, clips.labels, clips.preds, clips.frames,
                                                  strict=True)]
    return EvalSummary(data)


def describe_bootstrap(data: dict) -> str:
    b = data["bootstrap"]
    unit = "subjects" if b["unit"] == "subject" else "clips"
    return (f"{b['level'] * 100:.0f}% bootstrap intervals resample {b['groups']} {unit} ({b['reason']}; "
            f"{b['resamples']} resamples, seed {b['seed']})")


def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{x * 100:.2f}"


def render_markdown(data: dict, class_names: Sequence[str]) -> str:
    """The evaluation section appended to Table 3: metrics with intervals, clip confusion, per-subject accuracy."""
    from lightning_fer.reports import markdown_table, table3

    level = f"{data['bootstrap']['level'] * 100:.0f}% CI (%)"
    rows = []
    for kind in ("frame", "clip"):
        for name in STATS:
            entry = data["metrics"][f"{kind}_{name}"]
            low, high = entry["ci"]
            rows.append([f"{kind} {LABELS[name]}", _pct(entry["value"]), f"{_pct(low)} - {_pct(high)}"])
    columns, clip_rows = table3(np.asarray(data["clip_confusion_matrix"]), tuple(class_names))
    subject_rows = [[s, v["frames"], _pct(v["frame_accuracy"]), v["clips"], _pct(v["clip_accuracy"])]
                    for s, v in data["per_subject"].items()]
    return "\n".join([
        f"#### Clip-level, balanced and per-subject results - {data['frames']} frames, {data['clips']} clips, "
        f"{data['subjects']} subjects",
        "", describe_bootstrap(data) + ".", "",
        markdown_table(["metric", "value (%)", level], rows), "",
        *([data["macro_f1_definition"] + ".", ""] if "macro_f1_definition" in data else []),
        "Clip-level confusion (a clip's label from its frames' mean probabilities; counts are clips):", "",
        markdown_table(columns, clip_rows), "",
        "Per-subject accuracy:", "",
        markdown_table(["subject", "frames", "frame accuracy (%)", "clips", "clip accuracy (%)"], subject_rows), "",
    ])
