"""One training run as the multi-run commands (`fer cv`, `fer protocols`) need it: `fer fit`, then `fer test`
on its best checkpoint, in one run directory; returns the test metrics JSON. A run directory that holds
checkpoints (a rerun) is resumed (`--ckpt_path last`: a finished run trains no further)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def fit_then_test(args: Sequence[str], run_dir: Path) -> tuple[int, dict | None]:
    """(exit code, ``reports/test_metrics.json`` of the run) for LightningCLI ``args`` in ``run_dir``."""
    from lightning_fer.lightning_cli import run_lightning_cli
    from lightning_fer.run_dirs import RunFolder, resume_args

    common = [*args, "--trainer.default_root_dir", str(run_dir)]
    for argv in (["fit", *common, *resume_args(run_dir)], ["test", *common]):
        if (code := run_lightning_cli(argv)) != 0:
            return code, None
    return 0, json.loads(RunFolder(run_dir).test_metrics.read_text())
