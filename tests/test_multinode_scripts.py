"""cluster/local/multinode_up.sh, multinode_down.sh and on_node.sh refuse clearly without root (fast: nothing is
started). What they start and remove is checked on the real cluster by the `multinode_cluster` fixture."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

LOCAL = Path(__file__).resolve().parents[1] / "cluster" / "local"


@pytest.mark.parametrize("script", ["multinode_up.sh", "multinode_down.sh", "on_node.sh"])
def test_refuses_without_root(script: str, tmp_path: Path) -> None:
    cmd = [str(LOCAL / script), *(["1", "true"] if script == "on_node.sh" else [])]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "nobody", "--", *cmd]
    env = {**os.environ, "FER_MN_DIR": str(tmp_path / "mn")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"[fer-cluster] error: {script} must run as root " + (
        "(it enters a network namespace)" if script == "on_node.sh"
        else "(it manages network namespaces, links and daemons)")
    assert not (tmp_path / "mn").exists()  # nothing created
