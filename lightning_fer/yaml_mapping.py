"""Read a YAML file that must hold a mapping (configs, search spaces, studies, cluster resources).

One reader so that every config file fails the same way: a :class:`UserError` naming the file when it is
missing, unreadable, not YAML, or not a mapping at the top level. An empty file is an empty mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning_fer.errors import UserError


def load_yaml_mapping(path: str | Path, what: str = "YAML file", hint: str = "") -> dict[str, Any]:
    """The top-level mapping of ``path``; ``what`` names its role in errors, ``hint`` explains a missing file."""
    import yaml  # here: `fer --help` should not pay for it

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist" + (f" ({hint})" if hint else ""))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{what} {path} is not valid YAML: {err}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{what} {path} cannot be read: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{what} {path} must be a mapping (key: value) at the top level, got {type(data).__name__}")
    return data
