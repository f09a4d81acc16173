"""`fer scale report`: the points' scale_point.json -> scale_report.csv, scale_report.md and four PNGs.

Rows are the study's planned points that have a result, in plan order; points without one are listed as
missing (never silently dropped). Scaling efficiency compares img/s per device with the smallest world size of
the same sweep, per-device batch and accumulation (weak scaling); 1.0 is perfectly linear. It is left empty
for groups measured at one world size only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lightning_fer.atomic_write import write_text
from lightning_fer.markdown import markdown_table
from lightning_fer.run_dirs import RunFolder
from lightning_fer.scale import plots
from lightning_fer.scale.plan import Point
from lightning_fer.scale.study import Study

COLUMNS = ["point", "sweep", "global_batch", "per_device_batch", "devices", "nodes", "world_size", "accumulation",
           "lr_rule", "optimizer", "lr", "steps", "epochs", "wall_seconds", "train_seconds", "throughput",
           "throughput_per_device", "scaling_efficiency", "data_wait_share", "target_val_acc", "seconds_to_target",
           "steps_to_target", "best_val_loss", "best_val_acc", "val_acc_at_best_loss", "run_dir"]


@dataclass
class StudyReport:
    table: pd.DataFrame
    missing: list[str]
    csv: Path
    markdown_path: Path
    plots: dict[str, Path] = field(default_factory=dict)
    markdown: str = ""


def time_to_target(history: list[dict], target: float) -> dict:
    """Seconds and steps at the first validation reaching ``target`` accuracy (None when none did)."""
    first = next((h for h in history if h.get("val_acc") is not None and h["val_acc"] >= target), None)
    if first is None:
        return {"seconds_to_target": None, "steps_to_target": None}
    return {"seconds_to_target": first["seconds"], "steps_to_target": first["step"]}


def collect(points: list[Point], target: float | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One row per point with a result; the time to ``target`` is recomputed from each point's history."""
    rows, missing = [], []
    for point in points:
        path = RunFolder(point.run_dir).scale_point
        if not path.is_file():
            missing.append(point.name)
            continue
        row = json.loads(path.read_text())
        if target is not None:  # the study's target now, which may differ from the one the point ran with
            row.update(time_to_target(row.get("history") or [], target), target_val_acc=target)
        row.pop("history", None)
        rows.append({**row, "point": point.name, "run_dir": str(point.run_dir)})
    table = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    if rows:
        table = add_efficiency(table.astype({"throughput": float, "throughput_per_device": float}))
    return table, missing


def add_efficiency(table: pd.DataFrame) -> pd.DataFrame:
    """img/s per device over the smallest world size's in the same sweep, per-device batch and accumulation."""
    table = table.copy()
    keys = ["sweep", "per_device_batch", "accumulation"]
    smallest = table.loc[table.groupby(keys)["world_size"].transform("min") == table["world_size"]]
    base = smallest.groupby(keys)["throughput_per_device"].mean().rename("base_per_device")
    merged = table.join(base, on=keys)
    table["scaling_efficiency"] = merged["throughput_per_device"] / merged["base_per_device"]
    # only where the group spans several world sizes: at one size it would just compare noise between runs
    spans = table.groupby(keys)["world_size"].transform("nunique") > 1
    table.loc[~spans, "scaling_efficiency"] = float("nan")
    return table


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


_TABLE_HEADER = ["point", "global batch", "= dev x nodes x accum", "LR rule", "optimizer", "LR", "steps", "img/s",
                 "img/s/device", "efficiency", "data wait", "s to target", "best val loss", "best val acc"]


def _table_row(r) -> list[str]:
    eff = _fmt(r.scaling_efficiency * 100, 3) + "%" if pd.notna(r.scaling_efficiency) else "-"
    wait = _fmt(r.data_wait_share * 100, 3) + "%" if pd.notna(r.data_wait_share) else "-"
    acc = _fmt(r.best_val_acc * 100, 4) + "%" if pd.notna(r.best_val_acc) else "-"
    return [r.point, r.global_batch, f"{r.per_device_batch} x {r.devices} x {r.nodes} x {r.accumulation}", r.lr_rule,
            r.optimizer, _fmt(r.lr, 4), r.steps, _fmt(r.throughput), _fmt(r.throughput_per_device), eff, wait,
            _fmt(r.seconds_to_target), _fmt(r.best_val_loss, 4), acc]


def to_markdown(study: Study, table: pd.DataFrame, missing: list[str], images: dict[str, Path]) -> str:
    target = f"{study.target_val_acc * 100:.1f}%" if study.target_val_acc is not None else "none set"
    lines = [f"# Scaling study `{study.name}`", "",
             f"Base config `{study.base_config}`; LR rules relative to global batch {study.reference_batch}; "
             f"target val accuracy {target}. Global batch = per device x devices x nodes x accumulation.", "",
             markdown_table(_TABLE_HEADER, [_table_row(r) for r in table.itertuples(index=False)])]
    if missing:
        lines += ["", f"**Missing ({len(missing)} planned points without scale_point.json):** "
                  + ", ".join(f"`{m}`" for m in missing)]
    lines += [""] + [f"![{name}]({path.name})" for name, path in images.items()]
    return "\n".join(lines) + "\n"


def build_report(study: Study, points: list[Point]) -> StudyReport:
    """Write the CSV, the plots and the markdown summary into the study's run directory."""
    out = study.out_dir
    out.mkdir(parents=True, exist_ok=True)
    table, missing = collect(points, study.target_val_acc)
    csv = out / "scale_report.csv"
    write_text(csv, table.to_csv(index=False))
    images: dict[str, Path] = {}
    if len(table):
        images = {
            "accuracy_vs_batch": plots.accuracy_vs_batch(table, out / "scale_accuracy.png", study.name),
            "throughput_vs_devices": plots.throughput_vs_devices(table, out / "scale_throughput.png", study.name),
            "scaling_efficiency": plots.efficiency(table, out / "scale_efficiency.png", study.name),
            "time_to_target": plots.time_to_target(table, out / "scale_time_to_target.png", study.name,
                                                   study.target_val_acc),
        }
    markdown = to_markdown(study, table, missing, images)
    md_path = out / "scale_report.md"
    write_text(md_path, markdown)
    return StudyReport(table, missing, csv, md_path, images, markdown)


def log_to_wandb(study: Study, report: StudyReport, project: str) -> str:
    """The study's wandb run (job_type study, group scale/<study>): the table and the plots; offline without login."""
    from lightning_fer.wandb_study import log_study

    images = {f"scale/{name}": path for name, path in report.plots.items()}
    summary = {"points": len(report.table), "missing": len(report.missing)}
    if len(report.table) and report.table["best_val_acc"].notna().any():
        best = report.table.loc[report.table["best_val_acc"].astype(float).idxmax()]
        summary.update({"best/point": best["point"], "best/val_acc": float(best["best_val_acc"]),
                        "best/global_batch": int(best["global_batch"])})
    return log_study("scale", study.out_dir, f"scale/{study.name}", project,
                     tables={"scale/table": report.csv, "scale/report": report.markdown_path}, images=images,
                     summary=summary, config={"base_config": study.base_config,
                                              "reference_batch": study.reference_batch,
                                              "target_val_acc": study.target_val_acc})
