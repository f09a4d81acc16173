"""wandb runs as a dashboard shows them, without training: names, groups, job types, tags, top-level config values,
the flags trials/points/folds pass, the study run and the model artifact read back from offline run files with
wandb's own reader (tests/wandb_files.py), credentials for Ray workers, and `wandb: false` creating nothing.
The end-to-end check over a real tune grid, scale study and cv is tests/test_wandb_dashboards.py (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lightning_fer.wandb_runs import WandbOptions, run_identity, run_tags, top_level_values, wandb_options
from lightning_fer.wandb_study import log_study, log_tune_study, markdown_rows, study_run_args
from tests.wandb_files import read_runs

REPO = Path(__file__).resolve().parents[1]


def _prepared(tmp_path: Path) -> Path:
    data = tmp_path / "prepared"
    data.mkdir()
    (data / "prepare.json").write_text(json.dumps({"params_id": "abc123", "params": {}}))
    return data


def test_identity_name_group_job_type_and_tags(tmp_path: Path):
    data = {"protocol": "subject", "loader": "dali", "data_dir": str(_prepared(tmp_path))}
    plain = run_identity(tmp_path / "runs" / "demo", "fit", data=data)
    assert (plain.name, plain.group, plain.job_type) == ("demo", "runs", "fit")
    assert plain.tags == ["protocol=subject", "loader=dali", "params_id=abc123"]
    # a test into a folder with no trained run is a test run; once the folder holds checkpoints it is the fit's run
    fresh = tmp_path / "runs" / "eval"
    assert run_identity(fresh, "test").job_type == "test" and run_identity(fresh, "validate").job_type == "validate"
    (fresh / "checkpoints").mkdir(parents=True)
    (fresh / "checkpoints" / "best.ckpt").write_bytes(b"x")
    assert run_identity(fresh, "test").job_type == "fit"
    trial = run_identity(tmp_path / "tune" / "grid" / "t1_lr=0.1", "fit", group="tune/grid", job_type="trial")
    assert (trial.name, trial.group, trial.job_type) == ("t1_lr=0.1", "tune/grid", "trial")
    assert run_tags({"protocol": "frame", "data_dir": str(tmp_path / "missing")}) == ["protocol=frame"]


def test_wandb_setting_forms():
    assert wandb_options(False) is None and wandb_options(None) is None
    assert wandb_options(True) == WandbOptions(enabled=True, log_model=False)
    assert wandb_options({"log_model": True}) == WandbOptions(enabled=True, log_model=True)
    assert wandb_options({"enabled": False, "log_model": True}) is None


def test_cli_takes_wandb_log_model(capsys):
    from lightning_fer.cli import main

    with pytest.raises(SystemExit):
        main(["fit", "--config", "configs/demo.yaml", "--wandb.log_model", "true", "--wandb_job_type", "trial",
              "--wandb_config", '{"lr": 0.1}', "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["wandb"] == {"enabled": True, "log_model": True}
    assert printed["wandb_job_type"] == "trial" and printed["wandb_config"] == {"lr": 0.1}


def test_sampled_values_at_the_top_level():
    sampled = {"model.optimizer.init_args.lr": 0.01, "data.batch_size": 64,
               "model.optimizer": {"class_path": "torch.optim.SGD", "init_args": {"momentum": 0.9}}}
    assert top_level_values(sampled) == {"lr": 0.01, "batch_size": 64, "optimizer": "SGD"}


def test_trials_points_and_folds_pass_their_group_job_type_and_values(tmp_path: Path, monkeypatch):
    from lightning_fer.scale.plan import expand
    from lightning_fer.scale.study import load_study
    from lightning_fer.tune.trial import TrialSetup, trial_args

    setup = TrialSetup(base_config="base.yaml", experiment_dir=str(tmp_path), group="grid", workers=2)
    args = trial_args(setup, {"model.optimizer.init_args.lr": 0.001, "data.batch_size": 8}, tmp_path / "t")
    assert args[args.index("--wandb_group") + 1] == "tune/grid"
    assert args[args.index("--wandb_job_type") + 1] == "trial"
    assert json.loads(args[args.index("--wandb_config") + 1]) == {"lr": 0.001, "batch_size": 8, "workers": 2}

    monkeypatch.chdir(REPO)  # the study names its base config relative to the repository
    study = load_study(str(REPO / "configs" / "scale" / "tiny_cpu.yaml"))
    point = expand(study)[1]
    args = point.fit_args
    assert args[args.index("--wandb_group") + 1] == "scale/tiny_cpu"
    assert args[args.index("--wandb_job_type") + 1] == "point"
    values = json.loads(args[args.index("--wandb_config") + 1])
    assert values["global_batch"] == point.global_batch and values["lr"] == pytest.approx(point.lr)

    assert study_run_args("cv", tmp_path / "cv5", "fold", {"fold": 1}) == [
        "--wandb_group", "cv/cv5", "--wandb_job_type", "fold", "--wandb_config", '{"fold": 1}']


def test_markdown_table_rows():
    header, rows = markdown_rows("# title\n\n| a | b |\n|---|--:|\n| 1 | x |\n| 2 |\n\ntext | not a table")
    assert header == ["a", "b"] and rows == [["1", "x"], ["2", ""]]
    assert markdown_rows("no table") == ([], [])


def test_study_run_holds_tables_images_summary_and_keeps_its_id(tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = tmp_path / "tune" / "grid"
    study.mkdir(parents=True)
    (study / "table.md").write_text("| batch \\ lr | lr=0.1 |\n|---|---|\n| batch=8 | 50.00% / 1.2 |\n")
    (study / "trials.csv").write_text("trial,lr,val_loss\nt1,0.1,1.2\nt2,0.01,\n")
    plt.plot([0, 1])
    plt.savefig(study / "curves.png")
    plt.close("all")
    tables = {"tune/grid": study / "table.md", "tune/trials": study / "trials.csv"}
    log_study("tune", study, "tune/grid", "p", tables, {"tune/curves": study / "curves.png"}, {"best/val_loss": 1.2})
    log_study("tune", study, "tune/grid", "p", tables, {}, {"trials": 2})  # a rerun of the report
    runs = read_runs(study)
    assert len(runs) == 1, runs
    run = next(iter(runs.values()))
    assert (run["name"], run["group"], run["job_type"], run["fragments"]) == ("grid", "tune/grid", "study", 2)
    assert run["summary"]["best/val_loss"] == 1.2 and run["summary"]["trials"] == 2
    # wandb's reader prints nested summary values with dotted keys, as the W&B UI names them
    assert run["summary"]["tune/grid._type"] == "table-file" and run["summary"]["tune/trials.nrows"] == 2
    assert run["summary"]["tune/curves._type"] == "image-file"
    assert (study / "wandb_id.txt").read_text().strip() == next(iter(runs))


def test_wandb_false_creates_nothing(tmp_path: Path):
    trial = tmp_path / "tune" / "grid" / "t1"
    trial.mkdir(parents=True)
    (trial / "config.yaml").write_text(yaml.safe_dump({"wandb": False}))
    assert log_tune_study(trial.parent) is None
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["config.yaml", "grid", "t1", "tune"]


def test_best_checkpoint_becomes_a_model_artifact(tmp_path: Path):
    import wandb

    from lightning_fer.wandb_runs import log_model_artifact

    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"weights" * 100)
    run = wandb.init(project="p", dir=str(tmp_path), mode="offline", name="demo", reinit="finish_previous")
    try:
        log_model_artifact(run, checkpoint, {"best/val_loss": 0.5})
    finally:
        run.finish()
    [logged] = next(iter(read_runs(tmp_path).values()))["artifacts"]
    assert logged["type"] == "model" and logged["name"] == f"model-{run.id}"
    assert "best" in logged.get("aliases", []) and logged["metadata"]


def test_wandb_credentials_reach_ray_workers_through_the_runtime_env(monkeypatch):
    import ray

    from lightning_fer import ray_runtime

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    ray_runtime.ensure_ray()
    assert calls[0]["runtime_env"]["env_vars"]["WANDB_API_KEY"] == "k" * 40
    assert calls[0]["runtime_env"]["env_vars"]["WANDB_MODE"] == "offline"
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    assert ray_runtime.wandb_runtime_env() is None


def test_protocols_study_run_holds_the_side_by_side_table(tmp_path: Path):
    from lightning_fer.wandb_study import log_protocols_study

    study = tmp_path / "protocols" / "cmp"
    (study / "frame").mkdir(parents=True)
    (study / "frame" / "config.yaml").write_text(yaml.safe_dump({"wandb": True, "wandb_project": "p"}))
    (study / "protocols.json").write_text(json.dumps({"config": "c.yaml", "leakage_gap": 0.25, "runs": {"frame": {}}}))
    (study / "protocols.md").write_text("| metric | `frame` |\n|---|---|\n| frame acc (%) | 90.00 |\n")
    assert "protocols/cmp" in log_protocols_study(study)
    [run] = read_runs(study / "wandb").values()
    assert (run["name"], run["group"], run["job_type"]) == ("cmp", "protocols/cmp", "study")
    assert run["summary"]["leakage_gap"] == 0.25 and run["summary"]["protocols/table.nrows"] == 1


def test_log_model_uploads_best_ckpt_at_fit_end(tmp_path: Path):
    from types import SimpleNamespace

    from lightning_fer.loggers import FERWandbLogger
    from lightning_fer.wandb_runs import WandbRunSummary

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.ckpt").write_bytes(b"w" * 1000)
    logger = FERWandbLogger(project="p", save_dir=str(tmp_path), offline=True, run_folder=tmp_path, name="run")
    trainer = SimpleNamespace(is_global_zero=True, default_root_dir=str(tmp_path), loggers=[logger])
    callback = WandbRunSummary(log_model=True)
    callback.best = {"best/val_loss": 0.5, "best/epoch": 3}
    callback.on_fit_end(trainer, None)
    WandbRunSummary(log_model=False).on_fit_end(trainer, None)  # off: nothing more
    logger.experiment.finish()
    [run] = read_runs(tmp_path).values()
    [artifact] = run["artifacts"]
    assert artifact["type"] == "model" and (tmp_path / "wandb_id.txt").read_text().strip() in artifact["name"]
