"""`fer submit` without a cluster: the rendered sbatch scripts, the dry run, and the errors for bad input."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from lightning_fer.cli import main
from lightning_fer.cluster.jobs import prepare_scripts, ray_script, run_script, train_script
from lightning_fer.cluster.render import render
from lightning_fer.cluster.resources import Resources, load_resources
from lightning_fer.cluster.submit import print_plan
from lightning_fer.errors import UserError
from lightning_fer.resources import shipped_dir

CLUSTER_CONFIGS = sorted((shipped_dir("configs") / "cluster").glob("*.yaml"))


def sbatch_lines(text: str) -> list[str]:
    return [line.removeprefix("#SBATCH ").strip() for line in text.splitlines() if line.startswith("#SBATCH ")]


def bash_syntax_ok(text: str, tmp_path: Path) -> None:
    script = tmp_path / "check.sbatch"
    script.write_text(text)
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "fit.yaml"
    path.write_text("trainer: {max_epochs: 1}\n")
    return path


def test_multi_node_gpu_training_script(config: Path, tmp_path: Path) -> None:
    resources = Resources(nodes=2, gpus_per_node=4, cpus_per_task=8, mem="64G", partition="gpu", account="lab",
                          time="12:00:00", job_name="paper", log_dir=str(tmp_path / "logs"),
                          extra_sbatch=["#SBATCH --qos=high", "--constraint=a100"], setup=["module load cuda"])
    script = train_script(resources, str(config), ["--trainer.max_epochs", "75"])
    lines = sbatch_lines(script.text)
    for expected in ("--nodes=2", "--ntasks-per-node=4", "--cpus-per-task=8", "--gres=gpu:4", "--mem=64G",
                     "--partition=gpu", "--account=lab", "--time=12:00:00", "--job-name=paper", "--qos=high",
                     "--constraint=a100", "--signal=SIGUSR1@90", "--requeue", f"--output={tmp_path}/logs/%x-%j.out"):
        assert expected in lines, expected
    srun = next(line for line in script.text.splitlines() if line.startswith("srun "))
    assert f"fit --config {config}" in srun
    for arg in ("--trainer.accelerator=gpu", "--trainer.devices=4", "--trainer.num_nodes=2",
                "--trainer.strategy=ddp", "--ckpt_path last", "--trainer.max_epochs 75"):
        assert arg in srun, arg
    assert "module load cuda" in script.text
    bash_syntax_ok(script.text, tmp_path)


def test_cpu_training_variant_has_no_gres(config: Path, tmp_path: Path) -> None:
    resources = load_resources(shipped_dir("configs") / "cluster" / "local_cpu.yaml")
    script = train_script(resources, str(config), ckpt_path=None)
    lines = sbatch_lines(script.text)
    assert "--ntasks-per-node=2" in lines
    assert not any(line.startswith("--gres") for line in lines)
    assert "--trainer.accelerator=cpu --trainer.devices=2" in script.text
    assert "--ckpt_path" not in next(line for line in script.text.splitlines() if line.startswith("srun "))
    bash_syntax_ok(script.text, tmp_path)


def test_prepare_is_an_array_with_a_dependent_merge(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    shards, merge = prepare_scripts(Resources(gpus_per_node=2, nodes=3), str(tmp_path / "videos"),
                                    str(tmp_path / "out"), array=8, max_parallel=3)
    assert "--array=0-7%3" in sbatch_lines(shards.text)
    assert {"--nodes=1", "--ntasks-per-node=1"} <= set(sbatch_lines(shards.text))
    assert not any(line.startswith("--gres") for line in sbatch_lines(shards.text))
    assert '--shard "${SLURM_ARRAY_TASK_ID}" --num-shards "${SLURM_ARRAY_TASK_COUNT}"' in shards.text
    assert f"prepare merge {tmp_path / 'out'}" in merge.text
    assert merge.after_ok == 0 and shards.after_ok is None
    out = io.StringIO()
    print_plan([shards, merge], out)
    assert "--dependency=afterok:<job id of prepare> --kill-on-invalid-dep=yes merge.sbatch" in out.getvalue()
    for script in (shards, merge):
        bash_syntax_ok(script.text, tmp_path)


def test_ray_script_runs_one_ray_node_per_slurm_node(tmp_path: Path) -> None:
    script = ray_script(Resources(nodes=3, gpus_per_node=4, cpus_per_task=16), "fer tune --config x.yaml")
    lines = sbatch_lines(script.text)
    assert {"--nodes=3", "--ntasks-per-node=1", "--cpus-per-task=16", "--gres=gpu:4"} <= set(lines)
    assert "--num-gpus=4" in script.text and "start --head" in script.text and "--address=" in script.text
    assert script.text.rstrip().endswith("fer tune --config x.yaml")
    bash_syntax_ok(script.text, tmp_path)


def test_dry_run_prints_and_submits_nothing(config: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))  # a submission would fail: sbatch not found
    logs = tmp_path / "logs"
    rc = main(["submit", "train", "--config", str(config), "--nodes", "2", "--gpus-per-node", "2",
               "--log-dir", str(logs), "--dry-run", "--", "--trainer.max_epochs", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "#SBATCH --nodes=2" in out and "--trainer.max_epochs 3" in out and "nothing submitted" in out
    assert not logs.exists()


def test_no_requeue_flag_renders_no_requeue(config: Path, tmp_path: Path, capsys) -> None:
    rc = main(["submit", "train", "--config", str(config), "--log-dir", str(tmp_path), "--no-requeue", "--dry-run"])
    lines = sbatch_lines(capsys.readouterr().out)
    assert rc == 0 and "--no-requeue" in lines and "--requeue" not in lines


def test_missing_sbatch_is_one_clear_line(config: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    rc = main(["submit", "run", "--log-dir", str(tmp_path / "logs"), "--", "hostname"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("fer submit: error: sbatch not found") and "\n" not in err


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("nodes: 2\ngpu: 4\n", "unknown key(s) gpu"),
        ("time: 12:00:00\n", "time must be quoted"),
        ("mem: 8 GB\n", "mem='8 GB' is not SLURM memory syntax"),
        ("nodes: 0\n", "nodes=0 must be an integer >= 1"),
        ("gpus_per_node: 4\ntasks_per_node: 2\n", "must equal gpus_per_node=4"),
        ("- nodes\n", "must be a mapping"),
        ("nodes: [\n", "is not valid YAML"),
    ],
)
def test_bad_cluster_config_names_file_and_field(tmp_path: Path, capsys, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    rc = main(["submit", "run", "--cluster-config", str(path), "--dry-run", "--", "hostname"])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(path) in err and message in err


def test_flags_override_the_cluster_config() -> None:
    resources = load_resources(shipped_dir("configs") / "cluster" / "gpu_2nodes.yaml", nodes=4, partition=None)
    assert resources.nodes == 4 and resources.partition == "gpu" and resources.world_size == 16


@pytest.mark.parametrize("path", CLUSTER_CONFIGS, ids=lambda p: p.name)
def test_shipped_cluster_configs_load(path: Path, tmp_path: Path) -> None:
    import yaml

    resources = load_resources(path)
    for key, value in yaml.safe_load(path.read_text()).items():  # every key of the file, as written
        assert getattr(resources, key) == value, key
    lines = sbatch_lines(train_script(resources, "configs/demo.yaml", []).text)
    assert f"--nodes={resources.nodes}" in lines and f"--time={resources.time}" in lines


def test_template_placeholders_must_all_be_filled(tmp_path: Path) -> None:
    template = tmp_path / "t.sbatch"
    template.write_text("#!/bin/bash\n{{ sbatch_header }}\necho ${HOME} {{ command }}\n")
    assert render(str(template), {"sbatch_header": "#SBATCH -N 1", "command": "hi"}).endswith("echo ${HOME} hi\n")
    with pytest.raises(UserError, match="needs values for: command"):
        render(str(template), {"sbatch_header": ""})


def test_run_needs_a_command() -> None:
    with pytest.raises(UserError, match="needs a command"):
        run_script(Resources(), [])

