#!/usr/bin/env bash
# Stop what multinode_up.sh started and remove what it created: the Ray nodes (ray_down.sh on each, workers
# first), the slurmds, slurmctld and munged (by their pid files), whatever still runs on the hosts (job steps),
# then exactly the namespaces, links, files and folders listed in $FER_MN_DIR/created. Other Rays, SLURMs and
# namespaces on the machine are left alone. Logs and state stay for inspection; --purge deletes $FER_MN_DIR too.
# Running it twice is fine.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/common.sh"
multinode_script multinode_down.sh
ledger="$FER_MN_DIR/created"

mapfile -t ray_dirs < <(find "$FER_MN_DIR/ray" -mindepth 1 -maxdepth 1 -name 'node*' 2>/dev/null | sort -V -r)
for dir in "${ray_dirs[@]}"; do  # workers first, the head (node1) last
    FER_RAY_DIR="$dir" "$here/ray_down.sh"
done
run_dir="$FER_SLURM_DIR/run"
for pidfile in "$run_dir"/slurmd-*.pid; do
    [[ -e "$pidfile" ]] || continue
    name="$(basename "$pidfile" .pid)"
    stop_pidfile "slurmd on ${name#slurmd-}" "$pidfile"
done
stop_pidfile slurmctld "$run_dir/slurmctld.pid"
stop_pidfile munged "$run_dir/munged.pid"

# Anything still running on our hosts (a job's slurmstepd and tasks outlive slurmd): TERM, then KILL.
ours=()
[[ -s "$ledger" ]] && mapfile -t ours < <(awk '$1 == "netns" {print $2}' "$ledger")
left() { for ns in "${ours[@]}"; do [[ -e "/run/netns/$ns" ]] && ip netns pids "$ns"; done; true; }
mapfile -t pids < <(left)
if [[ ${#pids[@]} -gt 0 ]]; then
    log "stopping ${#pids[@]} process(es) left on the hosts: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do [[ -z "$(left)" ]] && break; sleep 0.2; done
    mapfile -t pids < <(left)
    [[ ${#pids[@]} -eq 0 ]] || kill -KILL "${pids[@]}" 2>/dev/null || true
fi

# Remove what up created, newest first (a host's files before its folder, links and namespaces before /etc/netns).
if [[ -s "$ledger" ]]; then
    tac "$ledger" | while read -r kind name; do
        case "$kind" in
            netns) [[ -e "/run/netns/$name" ]] && ip netns del "$name" && log "removed network namespace $name" ;;
            link) ip link show "$name" >/dev/null 2>&1 && ip link del "$name" && log "removed link $name" ;;
            file) rm -f "$name" ;;
            dir) [[ -d "$name" ]] && { rmdir "$name" 2>/dev/null || log "kept $name: not empty (not only ours)"; } ;;
        esac || true
    done
    rm -f "$ledger"
fi
rm -f "$FER_MN_DIR/nodes" "$FER_MN_DIR/env"
if [[ "${1:-}" == "--purge" ]]; then
    rm -rf "$FER_MN_DIR"
    log "removed $FER_MN_DIR"
fi
log "multi-node cluster down"
