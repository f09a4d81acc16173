#!/usr/bin/env bash
# Start a local Ray head with the dashboard (needed by `ray job submit`) on its own ports and temp dir, so it
# never meets another Ray on this machine; ray_down.sh stops exactly this one.
#
#   cluster/local/ray_up.sh
#   ray job submit --address "$(cat /tmp/fer-ray/dashboard_url)" --working-dir . -- fer fit --config ...
#   cluster/local/ray_down.sh
#
# Writes $FER_RAY_DIR/address (GCS host:port, for RAY_ADDRESS / ray.init) and $FER_RAY_DIR/dashboard_url.
# Running it twice is fine: a head that is still alive is left alone.
# multinode_up.sh starts the nodes of a multi-node Ray with it: FER_RAY_NODE_IP (the node's address, default
# 127.0.0.1), FER_RAY_ON_NODE (a host of on_node.sh to run on) and FER_RAY_JOIN (a head's GCS address: start a
# worker node joining it instead of a head).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ray="$(ray_bin)"
# Job entrypoints inherit the head's environment: put this ray's venv first so `fer` and `python` resolve to it.
export PATH="$(dirname "$ray"):$PATH"
export RAY_USAGE_STATS_ENABLED=0
# Ray >= 2.5x turns token auth on by itself when ~/.ray/auth_token exists (any earlier `ray` use may write it),
# and then clients without RAY_AUTH_MODE=token get "Unauthorized". This head listens on 127.0.0.1 (or a private
# bridge of multinode_up.sh) only: pick the mode explicitly (export RAY_AUTH_MODE=token, for the clients too, to keep auth).
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
mkdir -p "$FER_RAY_DIR"
pidfile="$FER_RAY_DIR/ray.pid"
node_ip="${FER_RAY_NODE_IP:-127.0.0.1}"
address="$node_ip:$FER_RAY_PORT"
dashboard="http://$node_ip:$FER_RAY_DASHBOARD_PORT"
join="${FER_RAY_JOIN:-}"
role="Ray $([[ -n "$join" ]] && echo worker || echo head)${FER_RAY_ON_NODE:+ on $FER_RAY_ON_NODE}"
on_node=()
[[ -z "${FER_RAY_ON_NODE:-}" ]] || on_node=("$(dirname "${BASH_SOURCE[0]}")/on_node.sh" "$FER_RAY_ON_NODE")

if pid_alive "$pidfile"; then
    log "$role already running (pid $(cat "$pidfile"))${join:- at $address, dashboard $dashboard}"
    exit 0
fi
common=(--block --disable-usage-stats --node-ip-address="$node_ip" --temp-dir="$FER_RAY_DIR/tmp"
        --min-worker-port="$FER_RAY_MIN_WORKER_PORT" --max-worker-port="$FER_RAY_MAX_WORKER_PORT"
        ${FER_RAY_NUM_CPUS:+--num-cpus="$FER_RAY_NUM_CPUS"})
if [[ -n "$join" ]]; then
    node_args=(--address="$join")
else
    node_args=(--head --port="$FER_RAY_PORT"
        --include-dashboard=true --dashboard-host="$node_ip" --dashboard-port="$FER_RAY_DASHBOARD_PORT"
        --ray-client-server-port="$FER_RAY_CLIENT_PORT" --dashboard-agent-listen-port="$FER_RAY_AGENT_PORT")
fi
# `ray start --block` stays in the foreground as the parent of the node's processes; setsid gives it a process
# group of its own, which ray_down.sh signals as a whole.
setsid "${on_node[@]}" "$ray" start "${node_args[@]}" "${common[@]}" \
    >"$FER_RAY_DIR/ray-start.log" 2>&1 </dev/null &
echo $! >"$pidfile"
log "$role starting (pid $(cat "$pidfile")), log $FER_RAY_DIR/ray-start.log"

# A worker is ready once `ray start` reports its node started (multinode_up.sh then counts the cluster's nodes);
# a head when the job server answers: that needs the GCS, the dashboard and its agent. A deadline in seconds,
# not a count of tries: on a loaded machine one `ray job list` takes seconds.
timeout_s="${FER_RAY_START_TIMEOUT:-180}"
deadline=$((SECONDS + timeout_s))
while ((SECONDS < deadline)); do
    if ! pid_alive "$pidfile"; then
        tail -n 30 "$FER_RAY_DIR/ray-start.log" >&2 || true
        rm -f "$pidfile"
        die "$role exited during start-up"
    fi
    if [[ -n "$join" ]]; then
        if grep -q "Ray runtime started" "$FER_RAY_DIR/ray-start.log"; then
            log "$role up: node $node_ip joined $join, temp dir $FER_RAY_DIR/tmp"
            exit 0
        fi
    elif RAY_ADDRESS="$dashboard" "$ray" job list >/dev/null 2>&1; then
        echo "$address" >"$FER_RAY_DIR/address"
        echo "$dashboard" >"$FER_RAY_DIR/dashboard_url"
        log "Ray head up: address $address, dashboard and job server $dashboard, temp dir $FER_RAY_DIR/tmp"
        exit 0
    fi
    sleep 1
done
tail -n 30 "$FER_RAY_DIR/ray-start.log" >&2 || true
die "$role not ready after $timeout_s s (ray_down.sh cleans up)"
