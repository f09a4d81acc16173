"""`fer tune` on a real in-process Ray (num_cpus=2) with real Lightning trials on the small prepared dataset:
a 2x2 grid writes the paper-style table and a loadable best config; ASHA stops a trial early; a killed
driver resumes with only the unfinished trials run."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lightning_fer.cli import main

REPO = Path(__file__).resolve().parent.parent
CELL = re.compile(r"^\d+\.\d\d% / (\d+\.\d{4}|\d\.\d{3}e\+\d+)$")  # acc% / loss (diverged: 1.234e+08)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


def tiny(data: Path, epochs: int = 1) -> list[str]:
    """Overrides for every trial: seconds per epoch on 2 CPU cores."""
    return ["--wandb", "false", "--data.data_dir", str(data), "--data.eval_batch_size", "8",
            "--trainer.max_epochs", str(epochs), "--trainer.limit_train_batches", "2",
            "--trainer.limit_val_batches", "2", "--trainer.log_every_n_steps", "1",
            "--trainer.enable_progress_bar", "false"]


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def tune_args(spec: Path, storage: Path, name: str, extra: list[str], *flags: str) -> list[str]:
    return ["tune", "--config", str(REPO / "configs/demo.yaml"), "--search", str(spec), "--storage", str(storage),
            "--name", name, "--cpus-per-trial", "1", *flags, "--", *extra]


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_grid_writes_table_trials_best_config(small_prepared: Path, tmp_path: Path, ray_local):
    spec = write_spec(tmp_path / "grid.yaml", {
        "table": {"rows": "data.batch_size", "columns": "model.optimizer.init_args.lr"},
        "space": {"model.optimizer.init_args.lr": {"grid": [0.01, 0.001]}, "data.batch_size": {"grid": [4, 8]}}})
    extra = [*tiny(small_prepared), "--wandb", "true"]
    assert main(tune_args(spec, tmp_path / "runs", "grid", extra)) == 0
    exp = tmp_path / "runs" / "grid"

    with open(exp / "table.csv") as f:
        table = list(csv.reader(f))
    assert table[0] == ["batch_size \\ lr", "lr=0.001", "lr=0.01"]
    assert [row[0] for row in table[1:]] == ["batch_size=4", "batch_size=8"]
    assert all(CELL.match(c) for row in table[1:] for c in row[1:]), table
    results = (exp / "results.md").read_text()
    assert "Split protocol: **subject**" in results and "| batch_size=8 |" in results

    trials = read_csv(exp / "trials.csv")
    assert len(trials) == 4 and {t["status"] for t in trials} == {"completed"}
    assert {(t["data.batch_size"], t["model.optimizer.init_args.lr"]) for t in trials} == {
        ("4", "0.01"), ("4", "0.001"), ("8", "0.01"), ("8", "0.001")}
    assert all(t["epochs_run"] == "1" and Path(t["checkpoint"]).is_file() for t in trials)
    for t in trials:  # each trial is a `fer fit` run directory, its wandb run in the experiment's group
        run = Path(t["checkpoint"]).parent.parent
        assert yaml.safe_load((run / "config.yaml").read_text())["wandb_group"] == "tune/grid"
        assert len(list((run / "wandb").glob("offline-run-*"))) == 1

    best_ckpt = Path((exp / "best_checkpoint.txt").read_text().strip())
    assert best_ckpt == Path(trials[0]["checkpoint"])  # trials.csv is sorted best first
    best = yaml.safe_load((exp / "best.yaml").read_text())
    assert best["data"]["batch_size"] == int(trials[0]["data.batch_size"])
    assert best["model"]["optimizer"]["init_args"]["lr"] == float(trials[0]["model.optimizer.init_args.lr"])
    assert best["trainer"]["default_root_dir"] == str(exp / "best_fit")
    assert "TuneReport" not in (exp / "best.yaml").read_text()
    with pytest.raises(SystemExit) as parsed:  # a complete, valid `fer fit` config
        main(["fit", "--config", str(exp / "best.yaml"), "--print_config"])
    assert parsed.value.code == 0
    assert (exp / "curves.png").stat().st_size > 5000


def test_asha_stops_poor_trials_early(small_prepared: Path, tmp_path: Path, ray_local):
    spec = write_spec(tmp_path / "asha.yaml", {
        "seed": 0, "num_samples": 4, "scheduler": {"asha": {"grace_period": 1, "max_t": 3, "reduction_factor": 2}},
        # a diverging learning rate among the choices makes "poor" certain, not a coin flip
        "space": {"model.optimizer.init_args.lr": {"choice": [1.0e-3, 50.0]}, "model.dropout": {"uniform": [0, 0.5]}}})
    # one trial at a time: ASHA's cutoff at a rung is then the median of the earlier trials' results, not the
    # race of two trials reaching the rung together (the first to arrive always continues)
    args = tune_args(spec, tmp_path / "runs", "asha", tiny(small_prepared, epochs=3), "--max-concurrent", "1")
    assert main(args) == 0
    trials = read_csv(tmp_path / "runs" / "asha" / "trials.csv")
    epochs = sorted(int(t["epochs_run"]) for t in trials)
    assert len(trials) == 4 and epochs[0] < 3 and epochs[-1] == 3, trials
    assert any(t["status"] == "stopped early" for t in trials)


def kill_driver_after_first_trial(args: list[str], exp: Path, env: dict[str, str], timeout: float) -> dict[Path, int]:
    """Start a `fer tune` driver with `args`, SIGKILL it once a trial of experiment `exp` has finished (its
    trial_done.json); return each finished trial's run folder and its best.ckpt mtime (to prove --resume leaves
    them alone)."""
    driver = subprocess.Popen([sys.executable, "-m", "lightning_fer.cli", *args], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not list(exp.glob("*/trial_done.json")):
            assert driver.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, f"no trial finished in {timeout:.0f} s"
            time.sleep(0.5)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    return {p.parent: p.parent.joinpath("checkpoints", "best.ckpt").stat().st_mtime_ns
            for p in exp.glob("*/trial_done.json")}


@pytest.mark.slow  # ~80 s: keeps this file's fast suite near 2 minutes
def test_killed_driver_resumes_unfinished_trials_only(small_prepared: Path, tmp_path: Path, ray_local):
    spec = write_spec(tmp_path / "grid.yaml", {"space": {"data.batch_size": {"grid": [4, 6, 8]}}})
    exp = tmp_path / "runs" / "killed"
    env = {**os.environ, "RAY_ADDRESS": ray_local}  # the driver joins this test's Ray, as on a cluster
    args = tune_args(spec, tmp_path / "runs", "killed", tiny(small_prepared), "--max-concurrent", "1")
    finished = kill_driver_after_first_trial(args, exp, env, timeout=600)
    assert 1 <= len(finished) < 3

    assert main(["tune", "--name", "killed", "--storage", str(tmp_path / "runs"), "--resume"]) == 0
    trials = read_csv(exp / "trials.csv")
    assert len(trials) == 3 and {t["status"] for t in trials} == {"completed"}
    assert len(list(exp.glob("*/config.yaml"))) == 3  # one run directory per trial: none started twice
    for run, mtime in finished.items():  # finished trials were not trained again
        assert run.joinpath("checkpoints", "best.ckpt").stat().st_mtime_ns == mtime
        assert len((run / "epochs.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("name, trials, axes", [
    ("paper_epochs_batch", 9, ("data.batch_size", "trainer.max_epochs")),
    ("paper_lr_batch", 9, ("data.batch_size", "model.optimizer.init_args.lr")),
    ("asha", 32, None)])
def test_shipped_search_spaces_load(name: str, trials: int, axes):
    from lightning_fer.tune.spec import load_spec, make_scheduler, param_space

    spec = load_spec(REPO / "configs" / "tune" / f"{name}.yaml")
    grid = 1
    for domain in param_space(spec).values():
        grid *= len(domain["grid_search"]) if isinstance(domain, dict) and "grid_search" in domain else 1
    assert grid * spec.num_samples == trials and spec.table_axes() == axes
    assert (make_scheduler(spec) is not None) == (name == "asha")


def test_sampled_optimizer_choice_becomes_valid_cli_overrides(tmp_path: Path):
    from lightning_fer.cli_overrides import override_args
    from lightning_fer.lightning_cli import make_cli

    sampled = {"model.optimizer.init_args.lr": 0.02, "model.dropout": 0.4, "data.batch_size": 16,
               "model.optimizer": {"class_path": "torch.optim.SGD", "init_args": {"momentum": 0.9}}}
    cli = make_cli(["--config", str(REPO / "configs/demo.yaml"), "--data.data_dir", str(tmp_path),
                    "--trainer.default_root_dir", str(tmp_path), *override_args(sampled)], run=False)
    configured = cli.model.configure_optimizers()  # a dict when the base config also has an lr_scheduler
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    assert type(optimizer).__name__ == "SGD"
    assert optimizer.defaults["lr"] == 0.02 and optimizer.defaults["momentum"] == 0.9
    assert cli.datamodule.hparams.batch_size == 16 and cli.model.hparams.dropout == 0.4


def test_bad_search_space_is_a_clear_error(tmp_path: Path, capsys):
    spec = write_spec(tmp_path / "bad.yaml", {"space": {"data.batch_size": {"gird": [1, 2]}}})
    assert main(tune_args(spec, tmp_path / "runs", "bad", [])) == 2
    assert "data.batch_size: expected one of" in capsys.readouterr().err
