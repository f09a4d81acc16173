#!/usr/bin/env bash
# Run a command on one host of the multi-node cluster (multinode_up.sh): in its network namespace (its own
# address), with /etc/netns/<host>/hosts over /etc/hosts (every host by name) and a UTS namespace whose hostname
# is the host's name, as on a separate machine. Daemons and their jobs inherit all of it.
#
#   cluster/local/on_node.sh 1 hostname -I                # or: on_node.sh fer-node1 ...
#   cluster/local/on_node.sh 1 env RAY_ADDRESS=10.213.7.1:46379 fer tune ...   # a Ray driver on the head host
#
# nsenter rather than `ip netns exec`: the latter remounts /sys, hiding /sys/fs/cgroup, and slurmd needs it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $# -ge 2 ]] || die "usage: on_node.sh NODE COMMAND... (NODE: a number K or the name $(mn_host K))"
node="$1"
shift
[[ "$node" =~ ^[0-9]+$ ]] && node="$(mn_host "$node")"
if [[ "${FER_ON_NODE_STAGE:-}" == "$node" ]]; then  # second stage, inside the namespaces: name the host
    unset FER_ON_NODE_STAGE
    [[ -f "/etc/netns/$node/hosts" ]] && mount --bind "/etc/netns/$node/hosts" /etc/hosts
    hostname "$node"
    exec "$@"
fi
[[ $EUID -eq 0 ]] || die "on_node.sh must run as root (it enters a network namespace)"
[[ -e "/run/netns/$node" ]] || die "host $node does not exist (no network namespace $node): run multinode_up.sh"
# nsenter, unshare and env all exec: the command keeps this process id (pid files, setsid sessions hold).
exec nsenter --net="/run/netns/$node" unshare --mount --uts -- \
    env FER_ON_NODE_STAGE="$node" "${BASH_SOURCE[0]}" "$node" "$@"
