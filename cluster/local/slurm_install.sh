#!/usr/bin/env bash
# Install the Debian packages of a single-node SLURM (slurm 22.05 on Debian 12) unless present.
# The packages cannot start services here (no systemd): slurm_up.sh starts the daemons by hand.
set -euo pipefail

packages=(slurmctld slurmd slurm-client munge)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "[fer-cluster] slurm packages already installed"
    exit 0
fi
[[ $EUID -eq 0 ]] || { echo "[fer-cluster] error: installing ${missing[*]} needs root" >&2; exit 1; }
echo "[fer-cluster] installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1 \
    || { echo "[fer-cluster] error: apt-get install ${packages[*]} failed" >&2; exit 1; }
echo "[fer-cluster] installed slurm $(dpkg-query -W -f='${Version}' slurmctld)"
