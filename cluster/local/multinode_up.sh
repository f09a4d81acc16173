#!/usr/bin/env bash
# A real N-host cluster on this one machine (default N=2): hosts fer-node1..N, each a network namespace with its
# own address on a private bridge (and its own hostname, see on_node.sh); munge, slurmctld on host 1 and one
# slurmd per host (NodeName=fer-nodeK NodeAddr=<its address>) in one partition; a Ray head (dashboard, job
# server) on host 1 and a Ray worker on every other host. This namespace is <net>.254 on the bridge, like a
# login node: sbatch, scontrol and `ray job submit` work from here. Traffic stays on the bridge.
#
#   sudo cluster/local/multinode_up.sh 2          # prints (and writes to $FER_MN_DIR/env) the exports
#   source /tmp/fer-mn/env                        # SLURM_CONF, RAY_ADDRESS (the job server)
#   sinfo; fer submit train ... --nodes 2 --wait
#   sudo cluster/local/multinode_down.sh          # stops what this started, removes what it created
#
# Running it again is fine: what exists is kept and what is missing (a killed daemon) is started again.
# Folders, names, addresses and ports: FER_MN_* in common.sh; FER_MN_RAY_CPUS sets each Ray node's CPUs.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/common.sh"
multinode_script multinode_up.sh
nodes="${1:-2}"
[[ "$nodes" =~ ^[0-9]+$ ]] && ((nodes >= 1 && nodes <= 250)) || die "number of hosts must be 1..250, got '$nodes'"
if [[ -s "$FER_MN_DIR/nodes" && "$(cat "$FER_MN_DIR/nodes")" != "$nodes" ]]; then
    die "a cluster of $(cat "$FER_MN_DIR/nodes") hosts is up in $FER_MN_DIR: run multinode_down.sh first"
fi
"$here/slurm_install.sh"
mkdir -p "$FER_MN_DIR"
chmod 0755 "$FER_MN_DIR"  # munged (user munge) must reach its socket folder inside
echo "$nodes" >"$FER_MN_DIR/nodes"
ledger="$FER_MN_DIR/created"  # what we created, one "kind name" a line; multinode_down.sh removes exactly these
touch "$ledger"
record() { grep -qxF "$*" "$ledger" || echo "$*" >>"$ledger"; }

# ---- network: bridge, one namespace + veth pair per host, /etc/netns/<host>/hosts naming every host ----
bridge="$FER_MN_BRIDGE"
((${#bridge} <= 11)) || die "FER_MN_BRIDGE '$bridge' is too long (at most 11 characters: links are named after it)"
if ! ip link show "$bridge" >/dev/null 2>&1; then
    route="$(ip route show "$FER_MN_NET.0/24" 2>/dev/null)"
    [[ -z "$route" ]] || die "$FER_MN_NET.0/24 is already routed here ($route): choose another FER_MN_NET"
    ip link add "$bridge" type bridge
    record link "$bridge"
    ip addr add "$(mn_addr 254)/24" dev "$bridge"
    ip link set "$bridge" up
    log "bridge $bridge: $(mn_addr 254)/24 (this namespace)"
elif ! grep -qxF "link $bridge" "$ledger"; then
    die "link $bridge exists but this cluster ($FER_MN_DIR) did not make it: set FER_MN_BRIDGE to another name"
fi
if [[ ! -d /etc/netns ]]; then
    mkdir /etc/netns
    record dir /etc/netns
fi
hosts_file="127.0.0.1 localhost"
for k in $(seq "$nodes"); do hosts_file+=$'\n'"$(mn_addr "$k") $(mn_host "$k")"; done
for k in $(seq "$nodes"); do
    host="$(mn_host "$k")" veth="$bridge-$k"
    if [[ ! -e "/run/netns/$host" ]]; then
        ip netns add "$host"
        record netns "$host"
        ip link add "$veth" type veth peer name "${veth}p"
        ip link set "${veth}p" netns "$host"
        ip link set "$veth" master "$bridge"
        ip link set "$veth" up
        ip -n "$host" link set lo up
        ip -n "$host" link set "${veth}p" name eth0
        ip -n "$host" addr add "$(mn_addr "$k")/24" dev eth0
        ip -n "$host" link set eth0 up
        log "host $host: $(mn_addr "$k") (network namespace $host, link $veth)"
    elif ! grep -qxF "netns $host" "$ledger"; then
        die "network namespace $host exists but this cluster ($FER_MN_DIR) did not make it: set FER_MN_PREFIX"
    fi
    if [[ ! -d "/etc/netns/$host" ]]; then
        mkdir "/etc/netns/$host"
        record dir "/etc/netns/$host"
    fi
    echo "$hosts_file" >"/etc/netns/$host/hosts"  # on_node.sh binds it over /etc/hosts
    record file "/etc/netns/$host/hosts"
done

# ---- SLURM: munged here (its socket is a file every host sees), slurmctld on host 1, a slurmd per host ----
start_munged
node_memory "$nodes"
node_lines=""
for k in $(seq "$nodes"); do
    node_lines+="NodeName=$(mn_host "$k") NodeAddr=$(mn_addr "$k") CPUs=$(nproc) RealMemory=$FER_SLURM_NODE_MEM"
    node_lines+=$' State=UNKNOWN\n'
    mkdir -p "$FER_SLURM_DIR/state/slurmd-$(mn_host "$k")"
done
node_lines+="PartitionName=$FER_SLURM_PARTITION Nodes=$(mn_host "[1-$nodes]") Default=YES MaxTime=INFINITE State=UP"
((nodes > 1)) || node_lines="${node_lines//\[1-1\]/1}"
write_slurm_conf "$(mn_host 1)($(mn_addr 1))" "-%n" "$node_lines"
run_dir="$FER_SLURM_DIR/run"
start_daemon slurmctld "$run_dir/slurmctld.pid" "$here/on_node.sh" 1 /usr/sbin/slurmctld -f "$FER_SLURM_CONF"
hosts=()
for k in $(seq "$nodes"); do
    host="$(mn_host "$k")"
    hosts+=("$host")
    start_daemon "slurmd on $host" "$run_dir/slurmd-$host.pid" \
        "$here/on_node.sh" "$k" /usr/sbin/slurmd -f "$FER_SLURM_CONF" -N "$host"
done
wait_nodes_idle "${hosts[@]}"
log "SLURM up: ${hosts[*]} idle, ${FER_SLURM_NODE_MEM} MB each, partition $FER_SLURM_PARTITION"

# ---- Ray: head (dashboard, job server) on host 1, a worker joining it on every other host ----
ray="$(ray_bin)"
head="$(mn_addr 1):$FER_RAY_PORT"
export FER_RAY_PORT FER_RAY_DASHBOARD_PORT FER_RAY_CLIENT_PORT FER_RAY_AGENT_PORT
for k in $(seq "$nodes"); do
    FER_RAY_DIR="$FER_MN_DIR/ray/node$k" FER_RAY_NODE_IP="$(mn_addr "$k")" FER_RAY_ON_NODE="$(mn_host "$k")" \
        FER_RAY_JOIN="$( ((k > 1)) && echo "$head" || true)" FER_RAY_NUM_CPUS="${FER_MN_RAY_CPUS:-}" \
        "$here/ray_up.sh"
done
# a driver must run on a Ray node: count the live nodes from host 1
(cd "$FER_REPO" && "$here/on_node.sh" 1 "$(dirname "$ray")/python" -m lightning_fer.cluster.ray_wait "$head" \
    "$nodes" --timeout "${FER_RAY_START_TIMEOUT:-180}") || die "Ray: not all $nodes nodes joined $head"

cat >"$FER_MN_DIR/env.tmp" <<ENV
export SLURM_CONF=$FER_SLURM_CONF
export RAY_ADDRESS=http://$(mn_addr 1):$FER_RAY_DASHBOARD_PORT
# Ray drivers (fer tune, ray.init) run on a host, with the GCS address:
#   $FER_REPO/cluster/local/on_node.sh 1 env RAY_ADDRESS=$head fer tune ...
ENV
mv "$FER_MN_DIR/env.tmp" "$FER_MN_DIR/env"
log "cluster of $nodes host(s) up; its exports (also in $FER_MN_DIR/env):"
cat "$FER_MN_DIR/env"
