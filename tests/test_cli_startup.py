"""`fer --help` and every `fer COMMAND [SUB] --help` print their help without loading the heavy stack.

Each runs in a fresh interpreter (as a user's shell would start it); afterwards torch, Lightning, Ray, DALI
and OpenCV must be absent from sys.modules. Time is measured by `fer bench cli`, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lightning_fer.bench.cli import help_commands

HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "lightning", "ray", "nvidia.dali", "cv2")

PROBE = """
import contextlib, io, json, sys
from lightning_fer.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[2:])
    except SystemExit as exit_:
        code = exit_.code
print(json.dumps({"code": code, "help": out.getvalue(),
                  "heavy": [m for m in json.loads(sys.argv[1]) if m in sys.modules]}))
"""

def _cases() -> list:
    return [pytest.param(argv, id=" ".join(argv)) for argv in help_commands()]


def test_help_commands_cover_every_command():
    from lightning_fer.cli import command_names

    covered = {argv[0] for argv in help_commands() if argv[0] != "--help"}
    assert covered == set(command_names()) and {"bench", "prepare", "tune", "export"} <= covered
    assert ["bench", "cli", "--help"] in help_commands() and ["submit", "train", "--help"] in help_commands()


@pytest.mark.parametrize("argv", _cases())
def test_help_leaves_the_heavy_stack_unloaded(argv: list[str]):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), *argv], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["code"] in (0, None)
    words = [w for w in argv if w != "--help"]
    assert result["help"].startswith("usage: fer" + "".join(f" {w}" for w in words))
    assert result["heavy"] == [], f"`fer {' '.join(argv)}` loaded {result['heavy']}"
