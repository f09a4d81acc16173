"""The files shipped with the package: the YAML configs and the sbatch templates, found one way everywhere.

They are kept once, in the checkout's top-level ``configs/`` and ``cluster/slurm/``, where users read and
copy them. The package reaches them through two git-tracked symlinks, ``lightning_fer/configs -> ../configs``
and ``lightning_fer/sbatch -> ../cluster/slurm``; building a wheel copies the files behind them into the
package (package data in pyproject.toml). So :func:`shipped_dir` (importlib.resources) finds them in a
checkout, an editable install and a wheel install alike, and a config typed as ``configs/demo.yaml`` works
from any folder: :func:`resolve_config` falls back to the shipped copy when no such file is in the cwd.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePosixPath

from lightning_fer.errors import UserError

SHIPPED = ("configs", "sbatch")


def shipped_dir(name: str) -> Path:
    """``configs`` or ``sbatch``: the folder of shipped files inside the installed package."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped folder {name!r}; expected one of {SHIPPED}")
    folder = files("lightning_fer") / name
    if not isinstance(folder, Path) or not folder.is_dir():
        raise UserError(f"the package's {name}/ folder is missing ({folder}); reinstall lightning-fer "
                        "(a checkout without symlink support lacks lightning_fer/configs and lightning_fer/sbatch)")
    return folder


def resolve_config(path: str) -> str:
    """A config path as typed, or, when no file is there and it reads ``configs/...``, the shipped copy."""
    given = PurePosixPath(path)
    if Path(path).exists() or given.is_absolute() or given.parts[:1] != ("configs",) or len(given.parts) < 2:
        return path
    shipped = shipped_dir("configs").joinpath(*given.parts[1:])
    return str(shipped) if shipped.is_file() else path
