#!/usr/bin/env bash
# Stop the daemons slurm_up.sh started (by their pid files under $FER_SLURM_DIR) and nothing else.
# Jobs still running are killed with slurmd. State and logs stay for inspection; pass --purge to delete them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

run_dir="$FER_SLURM_DIR/run"
stop_pidfile slurmd "$run_dir/slurmd.pid"
stop_pidfile slurmctld "$run_dir/slurmctld.pid"
stop_pidfile munged "$run_dir/munged.pid"
if [[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" == "$FER_SLURM_CONF" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
if [[ "${1:-}" == "--purge" ]]; then
    rm -rf "$FER_SLURM_DIR"
    log "removed $FER_SLURM_DIR"
fi
log "SLURM down"
