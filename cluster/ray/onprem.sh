#!/usr/bin/env bash
# A Ray cluster on on-prem machines that share this checkout and its .venv at the same path (NFS/Lustre).
#
#   cluster/ray/onprem.sh up hosts.txt       # first host: head; the rest: workers (over ssh)
#   ray job submit --address http://HEAD:8265 --working-dir . -- fer fit --config ... (absolute output paths)
#   cluster/ray/onprem.sh down hosts.txt     # `ray stop` on every host
#
#   cluster/ray/onprem.sh head               # or by hand: on the head node ...
#   cluster/ray/onprem.sh worker HEAD:6379   # ... and on each worker
#
# `down` runs `ray stop`, which stops every Ray process of this user on those hosts: use it on nodes given to
# this cluster, not on shared machines (there, cluster/local/ray_up.sh's head on its own ports is the tool).
# Ports: FER_RAY_PORT (6379), FER_RAY_DASHBOARD_PORT (8265); FER_RAY_VENV picks the venv (default: .venv).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${FER_RAY_VENV:-$repo/.venv}"
port="${FER_RAY_PORT:-6379}"
dashboard_port="${FER_RAY_DASHBOARD_PORT:-8265}"
export RAY_USAGE_STATS_ENABLED=0

usage() { sed -n '2,14p' "$0" >&2; exit 2; }
hosts() {  # hosts FILE: host names, one a line, '#' comments and blank lines skipped
    [[ -f "$1" ]] || { echo "[fer-ray] error: host file $1 not found" >&2; exit 2; }
    grep -v '^\s*\(#\|$\)' "$1" | awk '{print $1}'
}
remote() {  # remote HOST ARGS...: run this script on HOST (same path thanks to the shared file system)
    local host="$1"
    shift
    ssh -o BatchMode=yes "$host" "cd $(printf %q "$repo") && FER_RAY_VENV=$(printf %q "$venv") \
        FER_RAY_PORT=$port FER_RAY_DASHBOARD_PORT=$dashboard_port bash cluster/ray/onprem.sh $*"
}

[[ -x "$venv/bin/ray" ]] || { echo "[fer-ray] error: $venv/bin/ray not found (make venv, or set FER_RAY_VENV)" >&2; exit 1; }
case "${1:-}" in
    head)
        "$venv/bin/ray" start --head --port="$port" --dashboard-host=0.0.0.0 --dashboard-port="$dashboard_port" \
            --include-dashboard=true --disable-usage-stats
        echo "[fer-ray] head up: RAY_ADDRESS=$(hostname -I | awk '{print $1}'):$port, jobs: http://$(hostname -f):$dashboard_port"
        ;;
    worker)
        [[ -n "${2:-}" ]] || usage
        "$venv/bin/ray" start --address="$2" --disable-usage-stats
        ;;
    up)
        [[ -n "${2:-}" ]] || usage
        mapfile -t nodes < <(hosts "$2")
        [[ ${#nodes[@]} -gt 0 ]] || { echo "[fer-ray] error: no hosts in $2" >&2; exit 2; }
        remote "${nodes[0]}" head
        head_ip="$(ssh -o BatchMode=yes "${nodes[0]}" "hostname -I" | awk '{print $1}')"
        for node in "${nodes[@]:1}"; do remote "$node" worker "$head_ip:$port"; done
        echo "[fer-ray] ${#nodes[@]} node(s) up; ray job submit --address http://${nodes[0]}:$dashboard_port ..."
        ;;
    down)
        [[ -n "${2:-}" ]] || usage
        mapfile -t nodes < <(hosts "$2")
        for ((i = ${#nodes[@]} - 1; i >= 0; i--)); do
            ssh -o BatchMode=yes "${nodes[i]}" "$(printf %q "$venv/bin/ray") stop" || true
        done
        ;;
    *) usage ;;
esac
