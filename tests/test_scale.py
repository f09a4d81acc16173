"""Scaling studies: LR-rule and warmup arithmetic, study checks, the slurm plan, a real tiny study on CPU
(2 global batches x 2 LR rules through `fer scale run` + `report`) and, slow, a 2-process gloo DDP point."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from lightning_fer.cli import main
from lightning_fer.errors import UserError
from lightning_fer.scale.backends import run_ray
from lightning_fer.scale.lr_rules import global_batch, scaled_lr, split_global_batch, warmup_factor
from lightning_fer.scale.plan import expand
from lightning_fer.scale.study import load_study

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "scale" / "tiny_cpu.yaml")
EXAMPLE = str(REPO / "configs" / "scale" / "example.yaml")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # studies name their base config relative to the repository


@pytest.mark.parametrize(("rule", "batch", "expected"), [
    ("linear", 8192, 3.2), ("linear", 128, 0.05), ("sqrt", 1024, 0.2), ("sqrt", 64, 0.05), ("none", 8192, 0.1),
])
def test_lr_rules_scale_from_the_reference(rule: str, batch: int, expected: float):
    assert scaled_lr(0.1, batch, 256, rule) == pytest.approx(expected)


def test_lr_rule_errors_and_global_batch():
    with pytest.raises(UserError, match="unknown LR rule 'cubic'"):
        scaled_lr(0.1, 512, 256, "cubic")
    with pytest.raises(UserError, match=">= 1"):
        scaled_lr(0.1, 0, 256, "linear")
    assert global_batch(512, devices=4, nodes=2, accumulation=2) == 8192


def test_warmup_ramps_linearly_per_step_then_holds():
    values = [warmup_factor(step, 4, start_factor=0.25) for step in range(7)]
    assert values == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 1.0])
    assert [warmup_factor(s, 3) for s in range(4)] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert warmup_factor(0, 0, 0.1) == 1.0  # no warmup
    # Goyal et al.: from the reference LR (0.1 at 256) to 3.2 at 8192 over 5 epochs of 100 steps
    start = 0.1 / scaled_lr(0.1, 8192, 256, "linear")
    assert 3.2 * warmup_factor(0, 500, start) == pytest.approx(0.1)
    assert 3.2 * warmup_factor(250, 500, start) == pytest.approx(0.1 + (3.2 - 0.1) / 2)


def test_global_batches_that_do_not_fit_accumulate_gradients():
    split = split_global_batch(8192, devices=4, nodes=2, max_per_device=512)
    assert (split.per_device, split.accumulation, split.global_batch) == (512, 2, 8192)
    assert split_global_batch(96, 1, 1, max_per_device=40, multiple_of=4).per_device == 32  # 3 steps of 32
    assert split_global_batch(256, 4, 1).accumulation == 1
    with pytest.raises(UserError, match="does not divide over 8 devices"):
        split_global_batch(100, devices=4, nodes=2)
    with pytest.raises(UserError, match="multiple of 4"):
        split_global_batch(6, 1, 1, max_per_device=6, multiple_of=4)


def test_study_errors_name_the_file_and_key(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_config: configs/demo.yaml\nsweeps: [{name: a, global_batch: [8], lr_rule: [cubic]}]\n")
    with pytest.raises(UserError, match=r"bad.yaml: sweeps\[0\].lr_rule: unknown rule 'cubic'"):
        load_study(bad)
    bad.write_text("base_config: configs/demo.yaml\nsweeps: [{name: a, global_batch: [8], batchsize: 3}]\n")
    with pytest.raises(UserError, match="unknown key.*batchsize"):
        load_study(bad)
    bad.write_text("base_config: configs/demo.yaml\nsweeps: [{name: a, global_batch: [8], optimizer: [lars]}]\n")
    with pytest.raises(UserError, match="'lars' is not in the study's optimizers"):
        load_study(bad)


def test_example_study_plans_32_to_8192_with_accumulation_and_lars():
    points = {p.name: p for p in expand(load_study(EXAMPLE))}
    assert min(p.global_batch for p in points.values()) == 32
    big = points["batch-b8192-linear-sgd-2x4"]
    assert (big.split.per_device, big.split.devices, big.split.nodes, big.split.accumulation) == (512, 4, 2, 2)
    assert big.lr == pytest.approx(3.2)
    lars = points["adaptive-b8192-sqrt-lars-2x4"]
    optimizer = json.loads(lars.fit_args[lars.fit_args.index("--model.optimizer") + 1])
    assert optimizer["class_path"] == "timm.optim.Lars" and optimizer["init_args"]["lr"] == pytest.approx(0.1 * 32**0.5)


def test_slurm_dry_run_renders_one_train_job_per_point(capsys):
    assert main(["scale", "run", EXAMPLE, "--backend", "slurm", "--dry-run", "--only", "b8192-linear-sgd",
                 "--only", "devices-b256"]) == 0
    out = capsys.readouterr().out
    assert out.count("#SBATCH --nodes=2") == 1 and out.count("#SBATCH --nodes=1") == 1
    assert "--trainer.num_nodes=2" in out and "--trainer.accumulate_grad_batches 2" in out
    assert "--wandb_group scale/example" in out and "dry run: 2 script(s) rendered" in out


def test_local_backend_refuses_multi_node_points(capsys):
    assert main(["scale", "run", EXAMPLE, "--dry-run", "--only", "batch-b256-linear"]) == 2
    assert "needs 2 nodes: use --backend slurm" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_study(small_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`fer scale run` of the tiny study's batch sweep (global 8, 16 x linear, none) on the small dataset."""
    run_dir = tmp_path_factory.mktemp("scale")
    code = main(["scale", "run", TINY, "--run-dir", str(run_dir), "--only", "batch-", "--",
                 "--data.data_dir", str(small_prepared)])
    assert code == 0
    return run_dir


def test_tiny_study_writes_one_csv_row_per_point_and_the_plots(tiny_study: Path):
    table = pd.read_csv(tiny_study / "scale_report.csv").set_index("point")
    assert sorted(table.index) == sorted(f"batch-b{b}-{r}-base-1x1" for b in (8, 16) for r in ("linear", "none"))
    for name, row in table.iterrows():
        batch = 16 if "b16" in name else 8
        assert row["global_batch"] == batch == row["per_device_batch"] * row["world_size"] * row["accumulation"]
        assert row["accumulation"] == batch // 8  # max_per_device_batch 8: 16 = 8 x 2 steps
        assert row["steps"] == 4 // row["accumulation"]  # 4 batches per epoch
        assert row["lr"] == pytest.approx(0.001 * batch / 8 if row["lr_rule"] == "linear" else 0.001)
        assert row["throughput"] > 0 and 0 <= row["data_wait_share"] < 1
        assert math.isfinite(row["best_val_loss"]) and 0 <= row["best_val_acc"] <= 1
        assert (tiny_study / name / "config.yaml").is_file() and (tiny_study / name / "metrics.csv").is_file()
    for png in ("accuracy", "throughput", "efficiency", "time_to_target"):
        assert (tiny_study / f"scale_{png}.png").stat().st_size > 5000
    markdown = (tiny_study / "scale_report.md").read_text()
    assert "| batch-b16-linear-base-1x1 | 16 | 8 x 1 x 1 x 2 |" in markdown


def test_warmup_ramped_the_lr_from_the_reference(tiny_study: Path):
    point = json.loads((tiny_study / "batch-b16-linear-base-1x1" / "scale_point.json").read_text())
    # 1 warmup step from the reference LR 0.001 (start factor 0.5) to the linear-rule LR 0.002
    assert point["lr_first_step"] == pytest.approx(0.001) and point["lr"] == pytest.approx(0.002)
    assert point["history"] and point["history"][-1]["step"] == 2


def test_rerun_skips_finished_points_and_report_lists_missing(tiny_study: Path, small_prepared: Path, capsys):
    code = main(["scale", "run", TINY, "--run-dir", str(tiny_study), "--only", "batch-", "--no-report", "--",
                 "--data.data_dir", str(small_prepared)])
    assert code == 0 and capsys.readouterr().out.count("done already") == 4
    assert main(["scale", "report", TINY, "--run-dir", str(tiny_study), "--no-wandb"]) == 0
    markdown = (tiny_study / "scale_report.md").read_text()
    assert "Missing (2 planned points" in markdown and "`devices-b16-linear-base-1x2`" in markdown
    assert len(pd.read_csv(tiny_study / "scale_report.csv")) == 4


def test_force_reruns_a_finished_point_and_keeps_the_earlier_one_aside(tiny_study: Path, small_prepared: Path,
                                                                        capsys):
    point = tiny_study / "batch-b8-none-base-1x1"
    before = (point / "scale_point.json").read_text()
    capsys.readouterr()
    code = main(["scale", "run", TINY, "--run-dir", str(tiny_study), "--only", "batch-b8-none", "--force",
                 "--no-report", "--", "--data.data_dir", str(small_prepared)])
    assert code == 0, capsys.readouterr()
    (aside,) = tiny_study.glob("batch-b8-none-base-1x1.replaced-*")
    assert f"its earlier results moved to {aside}" in capsys.readouterr().out
    assert (aside / "scale_point.json").read_text() == before and (aside / "checkpoints").is_dir()
    rerun = json.loads((point / "scale_point.json").read_text())
    assert rerun["global_batch"] == 8 and rerun["history"]  # a new folder, trained again: its own log and checkpoint
    assert (point / "fit.log").is_file() and (point / "checkpoints" / "best.ckpt").is_file()


@pytest.mark.slow
def test_two_process_point_reports_twice_the_per_process_batch(small_prepared: Path, tmp_path: Path):
    code = main(["scale", "run", TINY, "--run-dir", str(tmp_path), "--only", "devices-b16", "--",
                 "--data.data_dir", str(small_prepared)])
    assert code == 0
    point = json.loads((tmp_path / "devices-b16-linear-base-1x2" / "scale_point.json").read_text())
    assert (point["world_size"], point["per_device_batch"], point["accumulation"]) == (2, 8, 1)
    assert point["global_batch"] == 2 * point["per_device_batch"] == 16
    # both ranks' samples, summed over the processes (each rank reads its own shard of the frames)
    assert point["train_samples"] == point["steps"] * 16 > 0
    assert point["throughput_per_device"] == pytest.approx(point["throughput"] / 2)


def test_ray_dry_run_prints_one_command_and_the_resources_per_point(capsys):
    assert main(["scale", "run", TINY, "--backend", "ray", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("-m lightning_fer.cli fit --config configs/demo.yaml") == 6
    assert out.count("ray task: 1 CPU(s), 0 GPU(s)") == 5  # accelerator cpu: no GPU even where there is one
    assert "devices-b16-linear-base-1x2: global batch 16, lr 0.002, ray task: 2 CPU(s), 0 GPU(s)" in out
    with pytest.raises(UserError, match="needs 2 nodes: use --backend slurm"):
        run_ray(expand(load_study(EXAMPLE)), dry_run=True)


def scale_run_on_ray(run_dir: Path, data: Path, only: str) -> int:
    """`fer scale run TINY --only ONLY --backend ray` on a 2-CPU Ray started here (the backend reuses it)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        return main(["scale", "run", TINY, "--run-dir", str(run_dir), "--only", only, "--backend", "ray",
                     "--", "--data.data_dir", str(data)])
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_backend_runs_the_points_as_ray_tasks(small_prepared: Path, tmp_path: Path, capsys):
    assert scale_run_on_ray(tmp_path, small_prepared, "batch-") == 0  # 1 CPU per point, 2 points at a time
    assert capsys.readouterr().out.count("ray task: 1 CPU(s), 0 GPU(s)") == 4
    table = pd.read_csv(tmp_path / "scale_report.csv").set_index("point")
    assert sorted(table.index) == sorted(f"batch-b{b}-{r}-base-1x1" for b in (8, 16) for r in ("linear", "none"))
    for name, row in table.iterrows():
        point = json.loads((tmp_path / name / "scale_point.json").read_text())
        assert point["global_batch"] == row["global_batch"] == (16 if "b16" in name else 8)
        assert row["steps"] == 4 // row["accumulation"] and row["throughput"] > 0
        assert (tmp_path / name / "fit.log").is_file()


@pytest.mark.slow
def test_ray_backend_runs_a_two_device_point_as_a_ray_train_job(small_prepared: Path, tmp_path: Path, capsys):
    from lightning_fer.ray_train import read_workers

    assert scale_run_on_ray(tmp_path, small_prepared, "devices-b16") == 0  # 2 ranks x 1 CPU, as `fer tune` trials
    assert "as a Ray Train job of 2 worker(s) x 1 CPU(s), 0 GPU(s)" in capsys.readouterr().out
    run = tmp_path / "devices-b16-linear-base-1x2"
    point = json.loads((run / "scale_point.json").read_text())
    assert (point["world_size"], point["per_device_batch"], point["global_batch"]) == (2, 8, 16)
    assert point["train_samples"] == point["steps"] * 16 > 0  # both ranks' shards
    assert sorted((w["rank"], w["world_size"]) for w in read_workers(run)) == [(0, 2), (1, 2)]
    assert "Ray Train job" in (run / "fit.log").read_text()
