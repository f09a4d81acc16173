"""Read offline wandb runs back with wandb's own reader: `wandb leet inspect --json` (wandb 0.31's public tool that
prints a run's .wandb transaction log, one JSON record per line). No project code parses the files.

A run folder's run may have several offline fragments (fit, a requeue, `fer test`: one ``offline-run-*`` each,
the same run id); `wandb sync` uploads them in start order into one run, so they are folded the same way here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def wandb_cli() -> str:
    return str(Path(sys.executable).parent / "wandb")


def inspect_records(fragment: Path) -> list[dict]:
    """The records of one ``offline-run-*`` directory, as wandb prints them."""
    proc = subprocess.run([wandb_cli(), "leet", "inspect", "--json", str(fragment)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"wandb leet inspect {fragment}: {proc.stderr[-2000:]}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def offline_fragments(root: Path) -> list[Path]:
    """Every ``offline-run-*`` directory under ``root`` (not wandb's ``latest-run`` link), oldest first."""
    found = [p for p in Path(root).rglob("offline-run-*") if p.is_dir() and not p.is_symlink()]
    return sorted(found, key=lambda p: p.name.split("-")[2])  # offline-run-<YYYYMMDD_HHMMSS>-<id>


def read_runs(root: Path) -> dict[str, dict]:
    """run id -> name, group, job_type, tags, config, summary, artifacts and the folders its fragments sit in."""
    runs: dict[str, dict] = {}
    for fragment in offline_fragments(root):
        for record in inspect_records(fragment):
            kind = record.get("type")
            if kind == "run":
                body = record["run"]
                run = runs.setdefault(body["run_id"], {"config": {}, "summary": {}, "folders": set(),
                                                       "artifacts": [], "fragments": 0})
                run.update(name=body.get("display_name"), group=body.get("run_group"), job_type=body.get("job_type"),
                           tags=body.get("tags", []), project=body.get("project"))
                run["config"].update((body.get("config") or {}).get("update") or {})
                run["folders"].add(fragment.parent.parent)  # <run folder>/wandb/offline-run-*
                run["fragments"] += 1
            elif kind == "config":
                run["config"].update(record["config"].get("update") or {})
            elif kind == "summary":
                run["summary"].update(record["summary"].get("update") or {})
            elif kind == "artifact":
                run["artifacts"].append(record["artifact"])
    for run in runs.values():
        run["config"].pop("_wandb", None)
    return runs


if __name__ == "__main__":  # python -m tests.wandb_files DIR: what a dashboard would show
    for run_id, run in read_runs(Path(sys.argv[1])).items():
        keys = sorted(k for k in run["summary"] if not k.startswith("_"))
        print(json.dumps({"id": run_id, "name": run["name"], "group": run["group"], "job_type": run["job_type"],
                          "tags": run["tags"], "summary_keys": keys}))
