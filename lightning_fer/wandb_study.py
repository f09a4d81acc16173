"""One wandb run per study (a Tune experiment, a scaling study, a cross-validation, a protocols comparison):
job_type ``study``, in the study's group (``tune/<name>``, ``scale/<study>``, ``cv/<name>``, ``protocols/<name>``)
beside the runs of its trials/points/folds, named after the study folder, holding the study's tables (as wandb
Tables), plots (as wandb Images), its CSV/markdown files and a summary (docs/WANDB.md).

Logged only when the study's runs log to wandb (the ``wandb`` setting of the first run folder's resolved
``config.yaml``; scale studies pass theirs); offline without credentials, never a login prompt. Its id lives in
``<study folder>/wandb_id.txt``, so writing the report again logs into the same run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning_fer.wandb_runs import wandb_options


def study_run_args(kind: str, study_dir: str | Path, job_type: str, values: Mapping[str, Any]) -> list[str]:
    """LightningCLI flags that put one run of a study into the study's group, typed, with ``values`` at the top of
    its config."""
    return ["--wandb_group", f"{kind}/{Path(study_dir).name}", "--wandb_job_type", job_type,
            "--wandb_config", json.dumps(dict(values))]


def runs_wandb(study_dir: Path) -> tuple[bool, str]:
    """(do the study's runs log to wandb, their project), from the first run folder's resolved config.yaml."""
    from lightning_fer.yaml_mapping import load_yaml_mapping

    for path in sorted(Path(study_dir).glob("*/config.yaml")):
        config = load_yaml_mapping(path)
        return wandb_options(config.get("wandb")) is not None, str(config.get("wandb_project") or "lightning-fer")
    return False, "lightning-fer"


def markdown_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The first markdown table in ``text``: (header, rows); ([], []) when there is none."""
    lines = [line.strip() for line in text.splitlines()]
    table: list[list[str]] = []
    for line in lines:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):  # the |---|---| line
                table.append(cells)
        elif table:
            break
    if not table:
        return [], []
    header, rows = table[0], [r + [""] * (len(table[0]) - len(r)) for r in table[1:]]
    return header, [r[:len(header)] for r in rows]


def _table(source: Path):
    """A wandb Table from a CSV or the first markdown table of a .md file."""
    import pandas as pd
    import wandb

    if source.suffix == ".csv":
        frame = pd.read_csv(source)
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].fillna("").astype(str)
        return wandb.Table(dataframe=frame)
    header, rows = markdown_rows(source.read_text())
    return wandb.Table(columns=header, data=rows) if header else None


def log_study(kind: str, study_dir: str | Path, group: str, project: str, tables: Mapping[str, Path],
              images: Mapping[str, Path], summary: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> str:
    """Log the study's run (see the module docstring); returns a line saying where it went."""
    import wandb

    from lightning_fer.loggers import folder_run_id, wandb_offline

    study_dir = Path(study_dir).resolve()
    mode = "offline" if wandb_offline() else "online"
    if mode == "offline":
        os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(project=project, dir=str(study_dir), id=folder_run_id(study_dir), resume="allow",
                     name=study_dir.name, group=group, job_type="study", tags=[f"study={kind}"],
                     config=dict(config or {}), mode=mode, reinit="finish_previous")
    try:
        logged: dict[str, Any] = {}
        for key, source in tables.items():
            if source.is_file() and (table := _table(source)) is not None:
                logged[key] = table
        for key, source in images.items():
            if source.is_file():
                logged[key] = wandb.Image(str(source))
        if logged:
            run.log(logged)
        files = {*tables.values(), *images.values()}
        for source in sorted(p for p in files if p.is_file()):  # the CSV/markdown/PNG files themselves
            run.save(str(source), base_path=str(source.parent), policy="now")
        run.summary.update(dict(summary))
        return f"{mode} run {run.id} ({group}, job_type study) in {study_dir / 'wandb'}"
    finally:
        run.finish()


def log_tune_study(exp_dir: Path) -> str | None:
    """The Tune experiment's run: table.md (the grid) and trials.csv as tables, curves.png, the best trial."""
    exp_dir = Path(exp_dir)
    enabled, project = runs_wandb(exp_dir)
    if not enabled:
        return None
    summary = json.loads((exp_dir / "summary.json").read_text()) if (exp_dir / "summary.json").is_file() else {}
    best = summary.get("best") or {}
    values = {"trials": summary.get("trials"), **{f"status/{k}": v for k, v in (summary.get("status") or {}).items()},
              **{f"best/{k}": best[k] for k in ("trial", "val_loss", "val_acc", "val_clip_acc", "epoch") if k in best}}
    return log_study("tune", exp_dir, f"tune/{exp_dir.name}", project,
                     tables={"tune/grid": exp_dir / "table.md", "tune/trials": exp_dir / "trials.csv"},
                     images={"tune/curves": exp_dir / "curves.png"}, summary=values,
                     config={"metric": summary.get("metric"), "mode": summary.get("mode"),
                             "protocol": summary.get("protocol")})


def log_cv_study(run_dir: Path) -> str | None:
    """The cross-validation's run: cv_summary.md's per-fold table, each metric's mean and interval."""
    run_dir = Path(run_dir)
    enabled, project = runs_wandb(run_dir)
    if not enabled:
        return None
    summary = json.loads((run_dir / "cv_summary.json").read_text())
    values: dict[str, Any] = {"folds": summary["folds"], "accuracy_mean": summary["accuracy_mean"],
                              "accuracy_std": summary["accuracy_std"]}
    for name, entry in (summary.get("metrics") or {}).items():
        values[f"cv/{name}"] = entry["mean"]
        values[f"cv/{name}_ci_low"], values[f"cv/{name}_ci_high"] = entry["ci"]
    return log_study("cv", run_dir, f"cv/{run_dir.name}", project, tables={"cv/folds": run_dir / "cv_summary.md"},
                     images={}, summary=values, config={"protocol": summary.get("protocol"), "folds": summary["folds"]})


def log_protocols_study(run_dir: Path) -> str | None:
    """The protocols comparison's run: protocols.md's side-by-side table and the leakage gap."""
    run_dir = Path(run_dir)
    enabled, project = runs_wandb(run_dir)
    if not enabled:
        return None
    record = json.loads((run_dir / "protocols.json").read_text())
    return log_study("protocols", run_dir, f"protocols/{run_dir.name}", project,
                     tables={"protocols/table": run_dir / "protocols.md"}, images={},
                     summary={"leakage_gap": record.get("leakage_gap"), "protocols": len(record.get("runs") or {})},
                     config={"config": record.get("config")})
