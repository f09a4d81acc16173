"""Tables across runs: cross-validation folds (mean with a bootstrap interval) and protocols side by side.

Input is what `fer test` writes (``reports/test_metrics.json``); runs from before the evaluation section
still count with their frame accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lightning_fer.evaluation.bootstrap import BootstrapSettings

# (key in the JSON's evaluation metrics, column title)
COLUMNS = (("frame_accuracy", "frame acc (%)"), ("clip_accuracy", "clip acc (%)"),
           ("frame_balanced_accuracy", "balanced acc (%)"), ("frame_macro_f1", "macro-F1 (%)"))


def run_metric(result: Mapping, key: str) -> float | None:
    evaluation = result.get("evaluation")
    if evaluation is not None:
        return evaluation["metrics"][key]["value"]
    return result.get("accuracy") if key == "frame_accuracy" else None


def mean_interval(values: Sequence[float], settings: BootstrapSettings = BootstrapSettings()) -> list[float]:
    """Percentile bootstrap interval of the mean, resampling the values (folds) with replacement; seeded."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return [float("nan")] * 2
    draws = np.random.default_rng(settings.seed).integers(0, len(values), size=(settings.resamples, len(values)))
    means = values[draws].mean(axis=1)
    tail = (1 - settings.level) / 2 * 100
    return [float(v) for v in np.percentile(means, [tail, 100 - tail])]


def fold_summary(results: Sequence[Mapping], settings: BootstrapSettings = BootstrapSettings()) -> dict:
    """Per metric: the folds' values, their mean and the bootstrap interval of the mean over folds."""
    out = {}
    for key, _ in COLUMNS:
        values = [run_metric(r, key) for r in results]
        if values and all(v is not None for v in values):
            out[key] = {"per_fold": values, "mean": float(np.mean(values)), "ci": mean_interval(values, settings)}
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value * 100:.2f}"


def fold_table(results: Sequence[Mapping], summary: Mapping, settings: BootstrapSettings = BootstrapSettings()) -> str:
    """Markdown: one row per fold (its test subjects, frames, clips, metrics, loss), then the mean and interval."""
    from lightning_fer.markdown import markdown_table

    keys = [k for k, _ in COLUMNS if k in summary]
    rows = []
    for i, r in enumerate(results):
        evaluation = r.get("evaluation") or {}
        loss = r.get("loss")
        rows.append([i, ", ".join(evaluation.get("per_subject", {})) or "?", r.get("frames", "?"),
                     evaluation.get("clips", "?"), *(_pct(run_metric(r, k)) for k in keys),
                     "n/a" if loss is None else f"{loss:.4f}"])
    rows.append(["mean", "", "", "", *(_pct(summary[k]["mean"]) for k in keys), ""])
    rows.append([f"{settings.level * 100:.0f}% CI", "", "", "",
                 *(f"{_pct(summary[k]['ci'][0])} - {_pct(summary[k]['ci'][1])}" for k in keys), ""])
    columns = ["fold", "test subjects", "frames", "clips", *(t for k, t in COLUMNS if k in summary), "loss"]
    return markdown_table(columns, rows) + "\n"


def protocol_table(results: Mapping[str, Mapping]) -> str:
    """Markdown: metrics (rows) under each protocol (columns), with each run's own bootstrap interval."""
    from lightning_fer.markdown import markdown_table

    protocols = list(results)
    evaluations = [results[p].get("evaluation") or {} for p in protocols]
    rows = []
    for key, title in COLUMNS:
        cells = []
        for p, evaluation in zip(protocols, evaluations, strict=True):
            ci = evaluation["metrics"][key]["ci"] if evaluation else [None, None]
            cells.append(_pct(run_metric(results[p], key)) + (f" [{_pct(ci[0])}, {_pct(ci[1])}]" if ci[0] is not None
                                                              else ""))
        rows.append([title, *cells])
    rows.append(["test frames", *(results[p].get("frames", "?") for p in protocols)])
    rows += [[f"test {field}", *(e.get(field, "?") for e in evaluations)] for field in ("clips", "subjects")]
    rows.append(["CI resamples", *(f"{e['bootstrap']['groups']} {e['bootstrap']['unit']}s" if e else "?"
                                   for e in evaluations)])
    return markdown_table(["metric", *(f"`{p}`" for p in protocols)], rows) + "\n"


def leakage_gap(results: Mapping[str, Mapping], key: str = "frame_accuracy") -> float | None:
    """Accuracy under the frame protocol minus under the subject protocol: what identity leakage adds."""
    if "frame" not in results or "subject" not in results:
        return None
    frame, subject = run_metric(results["frame"], key), run_metric(results["subject"], key)
    return None if frame is None or subject is None else frame - subject
