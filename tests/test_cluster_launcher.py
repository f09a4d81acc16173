"""The shipped cluster files are well-formed: the Ray launcher YAML passes Ray's own schema, the scripts parse."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"
SCRIPTS = sorted([*CLUSTER.glob("local/*.sh"), *CLUSTER.glob("ray/*.sh")])


def test_aws_launcher_config_passes_rays_schema() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTER / "ray" / "aws_gpu.yaml").read_text())
    validate_config(prepare_config(config))
    assert config["available_node_types"]["gpu_worker"]["node_config"]["InstanceType"].startswith("g5.")
    assert any("-c constraints.txt -e" in command for command in config["setup_commands"])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cluster_scripts_parse_and_are_strict(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    if script.name != "common.sh":  # sourced, so it inherits the caller's options
        assert "set -euo pipefail" in script.read_text()
