#!/usr/bin/env bash
# Start a real single-node SLURM (munge, slurmctld, slurmd) by hand, as CI and laptops have no systemd.
#
#   sudo cluster/local/slurm_up.sh          # installs the Debian packages first if needed
#   export SLURM_CONF=/tmp/fer-slurm/etc/slurm.conf   # printed at the end; only needed if
#                                                     # /etc/slurm/slurm.conf is not ours
#   cluster/local/slurm_down.sh             # stops exactly the daemons started here
#
# Everything (config, state, logs, pid files, munge socket) lives under $FER_SLURM_DIR (/tmp/fer-slurm).
# Running it twice is fine: daemons already running from their pid files are left alone.
# multinode_up.sh builds a cluster of several hosts from the same pieces (common.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $EUID -eq 0 ]] || die "slurm_up.sh must run as root (it starts munged as munge and the slurm daemons)"
"$(dirname "${BASH_SOURCE[0]}")/slurm_install.sh"

host="$(hostname -s)"
run_dir="$FER_SLURM_DIR/run"
mkdir -p "$FER_SLURM_DIR/state/slurmd"
start_munged

# slurm.conf from this machine: all CPUs, 85% of the memory slurmd sees.
cpus="$(nproc)"
node_memory 1
write_slurm_conf "$host" "" "NodeName=$host CPUs=$cpus RealMemory=$FER_SLURM_NODE_MEM State=UNKNOWN
PartitionName=$FER_SLURM_PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP"
export SLURM_CONF="$FER_SLURM_CONF"

# Clients read /etc/slurm/slurm.conf unless SLURM_CONF is set: point it at ours when it is free or ours.
system_conf=/etc/slurm/slurm.conf
if [[ ! -e "$system_conf" && ! -L "$system_conf" ]] || [[ "$(readlink "$system_conf")" == "$FER_SLURM_CONF" ]]; then
    mkdir -p /etc/slurm
    ln -sfn "$FER_SLURM_CONF" "$system_conf"
    conf_hint=""
else
    conf_hint="$system_conf is not ours: export SLURM_CONF=$FER_SLURM_CONF before sbatch/srun/fer submit"
fi

start_daemon slurmctld "$run_dir/slurmctld.pid" /usr/sbin/slurmctld -f "$FER_SLURM_CONF"
start_daemon slurmd "$run_dir/slurmd.pid" /usr/sbin/slurmd -f "$FER_SLURM_CONF"
wait_nodes_idle "$host"
log "SLURM up: node $host, $cpus CPUs, ${FER_SLURM_NODE_MEM} MB, partition $FER_SLURM_PARTITION"
log "config $FER_SLURM_CONF"
[[ -z "$conf_hint" ]] || log "$conf_hint"
