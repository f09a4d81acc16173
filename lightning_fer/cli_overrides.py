"""Dotted-key overrides as LightningCLI flags: the one encoder `fer tune` (trial values) and `fer scale` (study
overrides) share, so a value reaches `fer fit` spelled the same way from both (booleans ``true``/``false``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def encode_value(value: Any) -> str:
    """A value as jsonargparse reads it: mappings, lists, booleans and None as JSON, anything else as text."""
    if isinstance(value, dict | list | bool) or value is None:
        return json.dumps(value)
    return str(value)


def override_args(overrides: Mapping[str, Any]) -> list[str]:
    """``--key value`` per override; sorted so a class_path choice precedes its init_args overrides."""
    args: list[str] = []
    for key in sorted(overrides):
        args += [f"--{key}", encode_value(overrides[key])]
    return args
