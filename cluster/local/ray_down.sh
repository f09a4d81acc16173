#!/usr/bin/env bash
# Stop the Ray head ray_up.sh started, and only it. Unlike `ray stop`, which ends every Ray on the machine,
# this signals: the session setsid gave `ray start --block` (GCS, raylet, dashboard, workers), every descendant
# of it (job entrypoints start sessions of their own), and anything naming our temp dir.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pidfile="$FER_RAY_DIR/ray.pid"
leader="$(cat "$pidfile" 2>/dev/null || true)"

# ours: one pass over `ps`; the temp dir reaches awk through the environment so awk's own argv never matches.
ours() {
    FER_TMP="$FER_RAY_DIR/tmp" ps -eo pid=,ppid=,sid=,stat=,args= | FER_TMP="$FER_RAY_DIR/tmp" awk -v leader="$leader" '
        {
            pid = $1; parent[pid] = $2; zombie[pid] = ($4 ~ /^Z/); order[++n] = pid
            if ((leader != "" && ($3 == leader || pid == leader)) || index($0, ENVIRON["FER_TMP"]) > 0) mark[pid] = 1
        }
        END {
            do { grown = 0; for (i = 1; i <= n; i++) { p = order[i]; if (!mark[p] && mark[parent[p]]) { mark[p] = 1; grown = 1 } } } while (grown)
            for (i = 1; i <= n; i++) { p = order[i]; if (mark[p] && !zombie[p]) print p }
        }'
}

mapfile -t targets < <(ours)
if [[ ${#targets[@]} -eq 0 ]]; then
    log "no Ray node from $FER_RAY_DIR is running"
else
    log "stopping Ray node of $FER_RAY_DIR (session $leader): ${#targets[@]} process(es)"
    # `ray start --block` shuts its node down in order on SIGTERM (drains, then stops the daemons, ~3 s);
    # signalling every process at once instead leaves the GCS waiting. Stragglers get SIGTERM, then SIGKILL.
    still_running() { alive_pids "${targets[@]}"; ours; }
    wait_gone() {  # wait_gone SECONDS: true once nothing of ours runs
        local until=$((SECONDS + $1))
        while ((SECONDS < until)); do
            [[ -z "$(still_running)" ]] && return 0
            sleep 0.5
        done
        [[ -z "$(still_running)" ]]
    }
    # Job entrypoints first (they run in sessions of their own): a running job would make the node drain 30 s.
    mapfile -t jobs < <(ps -o pid=,sid= -p "$(IFS=,; echo "${targets[*]}")" | awk -v s="$leader" '$2 != s {print $1}')
    if [[ ${#jobs[@]} -gt 0 ]]; then
        kill -TERM "${jobs[@]}" 2>/dev/null || true
        for _ in $(seq 20); do alive_pids "${jobs[@]}" | grep -q . || break; sleep 0.25; done
    fi
    if [[ -n "$leader" ]] && alive_pids "$leader" | grep -q .; then
        kill -TERM "$leader" 2>/dev/null || true
        wait_gone 35 || true
    fi
    mapfile -t left < <(still_running | sort -u)
    if [[ ${#left[@]} -gt 0 ]]; then
        log "SIGTERM to ${#left[@]} Ray process(es) left: ${left[*]}"
        kill -TERM "${left[@]}" 2>/dev/null || true
        wait_gone 10 || true
    fi
    mapfile -t left < <(still_running | sort -u)
    if [[ ${#left[@]} -gt 0 ]]; then
        log "SIGKILL to ${#left[@]} Ray process(es) still running: ${left[*]}"
        kill -KILL "${left[@]}" 2>/dev/null || true
    fi
fi
rm -f "$pidfile" "$FER_RAY_DIR/address" "$FER_RAY_DIR/dashboard_url"
log "Ray node of $FER_RAY_DIR down"
