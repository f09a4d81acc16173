"""Progress for non-interactive runs: without a terminal (SLURM output files, Ray Tune trial logs) `fer fit`
prints one line every N training steps instead of redrawing a bar on every batch."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pytorch_lightning.callbacks import ProgressBar, TQDMProgressBar

from lightning_fer.callbacks.progress import LineProgressBar, wants_lines
from lightning_fer.cli import main
from lightning_fer.lightning_cli import make_cli

TINY = ["--config", "configs/demo.yaml", "--wandb", "false", "--data.batch_size", "8", "--data.eval_batch_size", "32",
        "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_means_lines_without_a_terminal():
    assert wants_lines("auto", io.StringIO()) and not wants_lines("auto", Terminal())
    assert wants_lines("lines", Terminal()) and not wants_lines("bar", io.StringIO())


@pytest.mark.parametrize(("args", "expected"), [
    ([], LineProgressBar),  # pytest captures stdout: not a terminal
    (["--progress", "bar"], TQDMProgressBar),
    (["--trainer.enable_progress_bar", "false"], None),
])
def test_cli_picks_the_progress_callback(args, expected, small_prepared: Path, tmp_path: Path):
    cli = make_cli([*TINY, "--data.data_dir", str(small_prepared), "--trainer.default_root_dir",
                    str(tmp_path), "--progress_every_n_steps", "3", *args], run=False)  # run=False: no subcommand
    bars = [c for c in cli.trainer.callbacks if isinstance(c, ProgressBar)]
    assert [type(b) for b in bars] == ([expected] if expected else [])
    if expected is LineProgressBar:
        assert bars[0].every_n_steps == 3


def test_non_tty_fit_prints_one_line_per_n_steps(small_prepared: Path, tmp_path: Path, capsys):
    assert main(["fit", *TINY, "--data.data_dir", str(small_prepared), "--trainer.default_root_dir", str(tmp_path),
                 "--trainer.limit_train_batches", "6", "--progress_every_n_steps", "2"]) == 0
    out = capsys.readouterr().out
    steps = re.findall(r"^epoch 1/1 step (\d+)/6 \| [\d.]+ it/s", out, flags=re.MULTILINE)
    assert steps == ["2", "4", "6"]  # 6 batches, a line every 2 steps
    assert len(re.findall(r"^epoch 1 validation done \|.*val_loss=", out, flags=re.MULTILINE)) == 1
    assert "\r" not in out  # no redrawn bar
