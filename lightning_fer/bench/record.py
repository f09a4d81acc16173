"""Write benchmark results into docs/BENCHMARKS.md, one replaceable section per benchmark.

Timings on shared machines are noisy, so every section states both sides measured in the same run
and their ratio; absolute numbers are context, the ratio is the claim.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from lightning_fer.atomic_write import write_text
from lightning_fer.markdown import markdown_table


@dataclass
class BenchResult:
    """One benchmark's outcome: a markdown table of rows plus the headline ratio."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[object]]
    ratio: float | None = None
    ratio_label: str = ""
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [f"## {self.title}", "", f"`fer bench {self.name}` - {_machine()} - {_today()}", ""]
        lines.append(markdown_table(self.columns, self.rows, fmt=_fmt))
        if self.ratio is not None:
            lines += ["", f"**{self.ratio_label or 'ratio'}: {self.ratio:.2f}x**"]
        if self.notes:
            lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


HEADER = (
    "# Benchmarks\n\nEach section is written by `fer bench NAME` (`make bench` runs them all). Both sides of"
    " a comparison run in the same process on the same input; compare ratios, not absolute times, across"
    " machines.\n"
)


def record(result: BenchResult, path: str | Path = "docs/BENCHMARKS.md") -> Path:
    """Replace (or append) this benchmark's section in the markdown file, atomically."""
    path = Path(path)
    text = path.read_text() if path.exists() else HEADER
    marker_start, marker_end = f"<!-- bench:{result.name} -->", f"<!-- /bench:{result.name} -->"
    section = f"{marker_start}\n{result.to_markdown()}{marker_end}\n"
    pattern = re.compile(re.escape(marker_start) + r".*?" + re.escape(marker_end) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, text)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _machine() -> str:
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    except Exception:  # torch missing or broken: the header still says what it can
        device = "unknown device"
    return f"{platform.machine()}, {os.cpu_count()} cores, {device}"


def _today() -> str:
    return _dt.date.today().isoformat()
