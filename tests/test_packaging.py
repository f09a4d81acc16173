"""A wheel install outside the checkout carries the sbatch templates and the configs: `fer submit train --dry-run`
and `fer fit --config configs/demo.yaml --print_config` work from an empty folder.

The wheel is built from a copy of the source tree (no build/ left in the checkout) without network, and
installed with --no-deps into a fresh venv that sees the running interpreter's installed dependencies
through a .pth file (a .pth line adds a path without running that folder's own .pth files, so the shared
venv's editable install of lightning_fer stays out).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from lightning_fer.cli import main
from lightning_fer.lightning_cli import shipped_config_args
from lightning_fer.resources import resolve_config, shipped_dir

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "lightning_fer", "dali_pipelines", "configs", "cluster")


def test_checkout_finds_shipped_files_through_the_package():
    assert sorted(p.name for p in shipped_dir("sbatch").glob("*.sbatch")) == sorted(
        p.name for p in (REPO / "cluster" / "slurm").glob("*.sbatch"))
    assert (shipped_dir("configs") / "demo.yaml").read_text() == (REPO / "configs" / "demo.yaml").read_text()


def test_resolve_config_prefers_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config("configs/demo.yaml") == str(shipped_dir("configs") / "demo.yaml")
    assert resolve_config("configs/missing.yaml") == "configs/missing.yaml"  # the caller's error names it
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "demo.yaml").write_text("trainer: {}\n")
    assert resolve_config("configs/demo.yaml") == "configs/demo.yaml"  # a user's own copy wins


def test_commands_take_shipped_config_paths_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = shipped_config_args(["fit", "--config", "configs/demo.yaml", "--config=configs/tune/asha.yaml", "-c"])
    assert args == ["fit", "--config", str(shipped_dir("configs") / "demo.yaml"),
                    f"--config={shipped_dir('configs') / 'tune' / 'asha.yaml'}", "-c"]
    assert main(["submit", "train", "--dry-run", "--config", "configs/demo.yaml",
                 "--cluster-config", "configs/cluster/local_cpu.yaml"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --job-name=fer-local" in script and f"--config {(REPO / 'configs' / 'demo.yaml')}" in script
    assert main(["submit", "train", "--dry-run", "--config", "configs/nope.yaml"]) == 2
    assert "training config configs/nope.yaml does not exist" in capsys.readouterr().err


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel of this tree, with the running interpreter's packages importable."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, env_dir = tmp / "src", tmp / "dist", tmp / "venv"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():  # the package's symlinks to configs/ and cluster/slurm/ stay symlinks
            shutil.copytree(REPO / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", str(src), "-w", str(dist)], check=True, timeout=300)
    wheel = next(dist.glob("lightning_fer-*.whl"))
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    shared = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}  # of the interpreter running the tests
    (site / "shared-deps.pth").write_text("".join(f"{path}\n" for path in sorted(shared)))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, timeout=300)
    return env_dir


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "FER_SLURM_TEMPLATES")}
    return {**env, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.mark.slow  # ~20 s build + install, then two cold `fer` starts (torch, Lightning): over a minute on 2 cores
def test_wheel_install_submits_and_prints_config_from_an_empty_folder(wheel_venv, tmp_path):
    empty, env, bindir = tmp_path / "empty", _clean_env(), wheel_venv / "bin"
    empty.mkdir()
    where = _run([str(bindir / "python"), "-c", "import lightning_fer.resources as r; print(r.shipped_dir('sbatch'))"],
                 empty, env)
    installed = Path(where.strip())
    assert installed.is_relative_to(wheel_venv) and not installed.is_symlink()  # the wheel's copy, not the checkout

    script = _run([str(bindir / "fer"), "submit", "train", "--dry-run", "--config", "configs/demo.yaml",
                   "--cluster-config", "configs/cluster/local_cpu.yaml"], empty, env)
    config = installed.parent / "configs" / "demo.yaml"
    assert "#SBATCH --ntasks-per-node=2" in script and "#SBATCH --job-name=fer-local" in script  # local_cpu.yaml
    assert str(config) in script and "srun" in script  # train.sbatch rendered with the shipped config

    printed = _run([str(bindir / "fer"), "fit", "--config", "configs/demo.yaml", "--print_config"], empty, env)
    assert "hidden_size: 512" in printed and "data_dir: data/demo/prepared" in printed
    assert "class_path: lightning_fer.callbacks.BestCheckpoint" in printed
    assert sorted(p.name for p in empty.iterdir()) == []  # nothing written by a dry run or --print_config
