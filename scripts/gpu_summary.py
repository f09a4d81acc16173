#!/usr/bin/env python3
"""Summarize a scripts/gpu_check.sh run: OUT/summary.json and OUT/summary.md from what the steps left in OUT.

    python scripts/gpu_summary.py OUT

Reads OUT/steps.tsv (step, exit code, seconds), OUT/probe.json (scripts/gpu_probe.py), OUT/junit.xml
(pytest: outcome per test and the values the tests recorded with ``record_property``) and
OUT/bench_*.json (`fer bench ... --json`). Anything missing is reported as missing, not guessed.
Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def read_steps(out: Path) -> list[dict]:
    path = out / "steps.tsv"
    if not path.is_file():
        return []
    steps = []
    for line in path.read_text().splitlines():
        name, code, seconds = line.split("\t")
        steps.append({"step": name, "exit_code": int(code), "seconds": float(seconds)})
    return steps


def read_junit(out: Path) -> dict:
    path = out / "junit.xml"
    if not path.is_file():
        return {"missing": str(path)}
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome, message = kind if kind != "failure" else "failed", node.get("message", "")[:300]
                break
        props = {p.get("name"): _number(p.get("value")) for p in case.iter("property")}
        tests.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                      "seconds": float(case.get("time") or 0), "message": message, "measured": props})
    counts: dict[str, int] = {}
    for test in tests:
        counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
    return {"counts": counts, "tests": tests}


def _number(value: str | None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def summarize(out: Path) -> dict:
    steps = read_steps(out)
    junit = read_junit(out)
    benches = {s["step"].removeprefix("bench-"): None for s in steps if s["step"].startswith("bench-")}
    benches.update({p.stem.removeprefix("bench_"): read_json(p) for p in sorted(out.glob("bench_*.json"))})
    probe = read_json(out / "probe.json") or {}
    failed_steps = [s["step"] for s in steps if s["exit_code"] != 0]
    failed_tests = [t["test"] for t in junit.get("tests", []) if t["outcome"] in ("failed", "error")]
    return {
        "ok": bool(steps) and not failed_steps and not failed_tests and "missing" not in junit,
        "tier": probe.get("tier"), "devices": probe.get("devices"), "python": probe.get("python"),
        "packages": probe.get("packages"), "project_imports": probe.get("project_imports"),
        "steps": steps, "failed_steps": failed_steps, "tests": junit, "failed_tests": failed_tests,
        "measured": {t["test"]: t["measured"] for t in junit.get("tests", []) if t["measured"]},
        "benchmarks": benches,
    }


def to_markdown(summary: dict) -> str:
    lines = ["# GPU check summary", "",
             f"- result: {'OK' if summary['ok'] else 'FAILED'}; tier {summary['tier']}; devices {summary['devices']}; "
             f"Python {summary['python']}"]
    if summary["failed_steps"]:
        lines.append(f"- failed steps: {', '.join(summary['failed_steps'])}")
    blocked = {k: v for k, v in (summary["project_imports"] or {}).items() if v != "ok"}
    if blocked:
        lines.append("- project modules that do not import here: "
                     + "; ".join(f"`{k}`: {v}" for k, v in blocked.items()))
    lines += ["", "| step | exit | seconds |", "|---|---|---|"]
    lines += [f"| {s['step']} | {s['exit_code']} | {s['seconds']:.0f} |" for s in summary["steps"]]
    tests = summary["tests"]
    lines += ["", f"## Tests ({tests.get('counts', tests.get('missing'))})", "", "| test | outcome | s | note |",
              "|---|---|---|---|"]
    for test in tests.get("tests", []):
        lines.append(f"| {test['test']} | {test['outcome']} | {test['seconds']:.1f} | {test['message'][:120]} |")
    if summary["measured"]:
        lines += ["", "## Measured by the tests", ""]
        for test, values in summary["measured"].items():
            lines.append(f"- {test}: " + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                                    for k, v in values.items()))
    for name, bench in summary["benchmarks"].items():
        lines += ["", f"## fer bench {name}", ""]
        if not bench:
            lines.append("(no result: the benchmark failed or timed out; see gpu_check.log)")
            continue
        lines.append("| " + " | ".join(bench["columns"]) + " |")
        lines.append("|" + "---|" * len(bench["columns"]))
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in bench["rows"]]
        if bench.get("ratio") is not None:
            lines += ["", f"**{bench['ratio_label']}: {bench['ratio']:.2f}x**"]
        lines += [""] + [f"- {note}" for note in bench.get("notes", [])]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def write(out: Path) -> dict:
    summary = summarize(out)
    for name, text in (("summary.json", json.dumps(summary, indent=1) + "\n"), ("summary.md", to_markdown(summary))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: gpu_summary.py OUT_DIR (an existing folder)", file=sys.stderr)
        return 2
    summary = write(Path(argv[0]))
    print(to_markdown(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
