"""Fill the sbatch templates of `cluster/slurm/` (``{{ name }}`` placeholders, nothing else).

The templates ship with the package and are found by lightning_fer.resources, in a checkout and a wheel alike.

Templates are plain shell so users can read and copy them; ``{{ }}`` never clashes with bash's ``${VAR}``.
Anything conditional (optional #SBATCH lines) is built in Python, where it is tested, not in the template.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lightning_fer.errors import UserError
from lightning_fer.resources import shipped_dir

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def template_dir() -> Path:
    """`$FER_SLURM_TEMPLATES`, else the shipped templates (the checkout's `cluster/slurm/`, or the wheel's copy)."""
    env = os.environ.get("FER_SLURM_TEMPLATES")
    path = Path(env) if env else shipped_dir("sbatch")
    if not path.is_dir():
        raise UserError(f"sbatch templates not found in {path}: set FER_SLURM_TEMPLATES to the cluster/slurm folder")
    return path


def render(template: str, values: dict[str, str]) -> str:
    """`template` (a file name in template_dir(), or a path) with every placeholder filled; unknown ones fail."""
    path = Path(template) if os.sep in template else template_dir() / template
    if not path.is_file():
        raise UserError(f"sbatch template {path} does not exist")
    text = path.read_text()
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if missing:
        raise UserError(f"sbatch template {path} needs values for: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
