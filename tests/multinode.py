"""Helpers of the multi-node tests: the cluster of cluster/local/multinode_up.sh as the fixture hands it out.

The fixture (`multinode_cluster` in conftest.py) starts it; these helpers address its hosts, run commands on
them (cluster/local/on_node.sh), fail a host as a crashed machine would, and list what a teardown left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def namespaces_unavailable() -> str | None:
    """Why network-namespace hosts cannot be made here, or None when they can (probed by making one)."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (cluster/local/multinode_up.sh)"
    if shutil.which("ip") is None:
        return "'ip' (iproute2) is not installed"
    probe = f"fer-mn-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"'ip netns add' fails here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@dataclass
class Cluster:
    state: Path  # FER_MN_DIR
    env: dict[str, str]  # what multinode_up.sh/down.sh ran with
    net: str  # the hosts' /24, first three octets
    nodes: int
    local: Path  # cluster/local

    def host(self, k: int) -> str:
        return f"fer-node{k}"

    def addr(self, k: int) -> str:
        return f"{self.net}.{k}"

    @property
    def gcs(self) -> str:
        """The Ray head's GCS address (for drivers running on a host)."""
        return f"{self.addr(1)}:{self.env['FER_MN_RAY_PORT']}"

    @property
    def dashboard(self) -> str:
        """The Ray job server, reachable from this (login) namespace."""
        return f"http://{self.addr(1)}:{self.env['FER_MN_RAY_DASHBOARD_PORT']}"

    def on_node(self, k: int, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run `cmd` on host k (its network and UTS namespace); kwargs go to subprocess.run."""
        return subprocess.run([str(self.local / "on_node.sh"), str(k), *cmd], env={**self.env, **kwargs.pop(
            "env", {})}, **kwargs)

    def host_pids(self, k: int) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.host(k)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def fail_host(self, k: int, only: str | None = None) -> list[int]:
        """SIGKILL what runs on host k, as a machine that dies: everything, or the processes whose command line
        contains `only`. Returns the pids killed."""
        pids = self.host_pids(k)
        if only is not None:
            pids = [p for p in pids if only in cmdline(p)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def up_again(self) -> str:
        """multinode_up.sh once more: it keeps what runs and restarts what is missing (a failed host's daemons)."""
        proc = subprocess.run([str(self.local / "multinode_up.sh"), str(self.nodes)], env=self.env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    def leftovers(self) -> list[str]:
        """Namespaces, links and processes of this cluster still present."""
        hosts = [self.host(k) for k in range(1, self.nodes + 1)]
        found = [f"netns {host}" for host in hosts if Path(f"/run/netns/{host}").exists()]
        if subprocess.run(["ip", "link", "show", self.env["FER_MN_BRIDGE"]], capture_output=True).returncode == 0:
            found.append(f"link {self.env['FER_MN_BRIDGE']}")
        ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
        found += [f"process {line.strip()}" for line in ps.splitlines()
                  if str(self.state) in line and not line.split()[1].startswith("Z")]
        return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_until(predicate, timeout: float, what: str, poll: float = 0.5):
    """Poll `predicate` until it returns something truthy (returned); fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(poll)
