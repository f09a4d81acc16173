"""Experiment results: the paper's Table 2/4 grid, every trial (CSV + markdown), the best config and checkpoint.

A trial's score is its best epoch by the search metric (val_loss, min: the paper keeps the lowest-validation-
loss model), and its cell shows accuracy and loss of that epoch. Everything is read from the trial run
directories (epochs.jsonl, config.yaml, checkpoints/best.ckpt), so a resumed experiment reports all trials.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import yaml

from lightning_fer.atomic_write import write_text
from lightning_fer.markdown import markdown_table
from lightning_fer.ray_train import WORKER_CALLBACK
from lightning_fer.run_dirs import RunFolder
from lightning_fer.tune.plot import plot_results
from lightning_fer.tune.records import TrialRecord, best_grid, best_record
from lightning_fer.tune.report import read_epochs
from lightning_fer.tune.spec import SearchSpec
from lightning_fer.tune.trial import REPORT_CALLBACK, WORKERS_REPORT_CALLBACK, run_dir_name
from lightning_fer.yaml_mapping import load_yaml_mapping

TRIAL_CALLBACKS = (REPORT_CALLBACK, WORKERS_REPORT_CALLBACK, WORKER_CALLBACK)


def collect(grid, spec: SearchSpec, exp_dir: Path) -> list[TrialRecord]:
    records = []
    for result in grid:
        trial_id = (result.metrics or {}).get("trial_id")
        path = exp_dir / run_dir_name(trial_id, result.config or {}) if trial_id else Path(result.path)
        resolved = _load_yaml(RunFolder(path).config)
        epochs = read_epochs(path)
        scored = [e for e in epochs if _finite(e.get(spec.metric))]
        pick = min if spec.mode == "min" else max
        best = pick(scored, key=lambda e: e[spec.metric]) if scored else {}
        records.append(TrialRecord(
            name=path.name, path=path, config=dict(result.config or {}), epochs=epochs,
            max_epochs=(resolved.get("trainer") or {}).get("max_epochs"),
            protocol=str((resolved.get("data") or {}).get("protocol", "unknown")),
            error=str(result.error).splitlines()[0][:200] if result.error else None, best=best,
            node=str((result.metrics or {}).get("node_ip", ""))))
    return sorted(records, key=lambda r: r.name)


def cell(record: TrialRecord | None) -> str:
    """'acc% / loss' of the trial's best epoch, as in the paper's tables."""
    if record is None or not record.best:
        return "-"
    acc, loss = record.best.get("val_acc", float("nan")), record.best.get("val_loss", float("nan"))
    return f"{100 * acc:.2f}% / {loss:.4f}" if abs(loss) < 1e4 else f"{100 * acc:.2f}% / {loss:.3e}"  # diverged


def grid_table(records: list[TrialRecord], spec: SearchSpec, rows: str, columns: str) -> list[list[str]]:
    """Header + one row per `rows` value; a cell holds the best trial (by the metric) of that combination."""
    grid = best_grid(records, spec, rows, columns)
    table = [[f"{_short(rows)} \\ {_short(columns)}", *[f"{_short(columns)}={v}" for v in grid.col_values]]]
    for rv, best in zip(grid.row_values, grid.best, strict=True):
        table.append([f"{_short(rows)}={rv}", *[cell(b) for b in best]])
    return table


def trial_rows(records: list[TrialRecord], spec: SearchSpec) -> list[dict[str, Any]]:
    keys = sorted({k for r in records for k in r.config})
    rows = []
    for r in records:
        row: dict[str, Any] = {"trial": r.name, **{k: _plain(r.config.get(k)) for k in keys}}
        row.update(status=r.status, node=r.node, epochs_run=len(r.epochs), max_epochs=r.max_epochs,
                   best_epoch=r.best.get("epoch"), val_loss=r.best.get("val_loss"), val_acc=r.best.get("val_acc"),
                   checkpoint=str(r.checkpoint) if r.checkpoint.is_file() else "", error=r.error or "")
        row.setdefault(spec.metric, r.best.get(spec.metric))  # a search on another metric (train_loss) shows it
        rows.append(row)
    sign = 1 if spec.mode == "min" else -1
    return sorted(rows, key=lambda x: (x[spec.metric] is None, sign * (x[spec.metric] or 0)))


def best_config_yaml(record: TrialRecord, exp_dir: Path, spec: SearchSpec) -> str:
    """The best trial's resolved `fer fit` config, minus the Tune callback, training into <exp>/best_fit."""
    config = _load_yaml(RunFolder(record.path).config)
    trainer = config.setdefault("trainer", {})
    callbacks = trainer.get("callbacks") or []
    trainer["callbacks"] = [c for c in callbacks if not _is_report_callback(c)]
    trainer["default_root_dir"] = str(exp_dir / "best_fit")
    base = _load_yaml(Path(json.loads((exp_dir / "fer_tune.json").read_text())["setup"]["base_config"]))
    # trials were pinned to one device, or ran with Ray's strategy and environment: `fer fit` takes the base's
    for key, default in (("devices", "auto"), ("strategy", "auto"), ("plugins", None), ("num_nodes", 1)):
        trainer[key] = (base.get("trainer") or {}).get(key, default)
    config["ckpt_path"] = None
    config["wandb_job_type"] = None  # the retrained best is a fit in the experiment's wandb group, not a trial
    header = [f"# Best trial of tune experiment {exp_dir.name} ({spec.metric} {spec.mode}): {record.name}",
              *[f"#   {k} = {_plain(v)}" for k, v in sorted(record.config.items())],
              f"#   epoch {record.best.get('epoch')}: {cell(record)} (val acc / val loss), protocol {record.protocol}",
              f"#   checkpoint: {record.checkpoint}",
              f"# Retrain: fer fit --config {exp_dir / 'best.yaml'}"]
    return "\n".join(header) + "\n" + yaml.safe_dump(config, sort_keys=False)


def write_results(exp_dir: Path, grid, spec: SearchSpec) -> dict[str, Any]:
    """Write results.md, table.md/.csv (grid searches), trials.md/.csv, best.yaml, best_checkpoint.txt,
    summary.json and curves.png into the experiment directory."""
    records = collect(grid, spec, exp_dir)
    best = best_record(records, spec)
    protocols = sorted({r.protocol for r in records})
    lines = [f"# Tune experiment `{exp_dir.name}`", "",
             f"Split protocol: **{', '.join(protocols)}** (from the base config's `data.protocol`). "
             f"Cells: validation accuracy / loss at each trial's best epoch by `{spec.metric}` ({spec.mode}).", ""]
    axes = spec.table_axes()
    if axes:
        table = grid_table(records, spec, *axes)
        write_text(exp_dir / "table.csv", _csv(table))
        write_text(exp_dir / "table.md", _markdown(table) + "\n")
        lines += ["## Grid (the paper's Table 2 / Table 4 form)", "", _markdown(table), ""]
    rows = trial_rows(records, spec)
    if rows:
        write_text(exp_dir / "trials.csv", _csv([list(rows[0]), *[list(r.values()) for r in rows]]))
        shown = [k for k in rows[0] if k not in ("checkpoint", "error")]
        table_rows = [[_fmt(r[k]) for k in shown] for r in rows]
        write_text(exp_dir / "trials.md", _markdown([shown, *table_rows]) + "\n")
        lines += ["## All trials (best first)", "", _markdown([shown, *table_rows]), ""]
    status = {s: sum(r.status == s for r in records) for s in ("completed", "stopped early", "error")}
    summary: dict[str, Any] = {"experiment": str(exp_dir), "metric": spec.metric, "mode": spec.mode,
                               "protocol": protocols, "trials": len(records), "status": status}
    if best is not None:
        summary["best"] = {"trial": best.name, "config": best.config, **best.best, "checkpoint": str(best.checkpoint)}
        write_text(exp_dir / "best.yaml", best_config_yaml(best, exp_dir, spec))
        write_text(exp_dir / "best_checkpoint.txt", f"{best.checkpoint}\n")
        lines += [f"**Best**: `{best.name}` {cell(best)} at epoch {best.best.get('epoch')}; "
                  f"config `best.yaml`, checkpoint `{best.checkpoint}`.", ""]
    if plot_results(records, spec, axes, exp_dir / "curves.png"):
        lines += ["![validation curves](curves.png)", ""]
    write_text(exp_dir / "results.md", "\n".join(lines))
    write_text(exp_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    print("\n".join(lines))
    from lightning_fer.wandb_study import log_tune_study

    if where := log_tune_study(exp_dir):  # the experiment's own wandb run (job_type study) when its trials log
        print(f"wandb: {where}")
    return summary


def _is_report_callback(entry: Any) -> bool:
    """The callbacks a trial adds (Tune report, Ray Train worker), which a plain `fer fit` cannot run."""
    return isinstance(entry, dict) and entry.get("class_path") in TRIAL_CALLBACKS


def _load_yaml(path: Path) -> dict:
    return load_yaml_mapping(path) if path.is_file() else {}


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _markdown(rows: list[list[Any]]) -> str:
    head, *body = rows
    return markdown_table(head, body)


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _plain(value: Any) -> Any:
    return value.get("class_path") if isinstance(value, dict) else value


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
