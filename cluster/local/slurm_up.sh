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
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $EUID -eq 0 ]] || die "slurm_up.sh must run as root (it starts munged as munge and the slurm daemons)"
"$(dirname "${BASH_SOURCE[0]}")/slurm_install.sh"

host="$(hostname -s)"
munge_dir="$FER_SLURM_DIR/munge"
run_dir="$FER_SLURM_DIR/run"
mkdir -p "$FER_SLURM_DIR"/{etc,run,log,state/slurmctld,state/slurmd} "$munge_dir"
chmod 0755 "$FER_SLURM_DIR"
chown munge:munge "$munge_dir"
chmod 0755 "$munge_dir"

# munge: the package's key (or a new one) and our own socket, so a system munged is never touched.
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if pid_alive "$run_dir/munged.pid"; then
    log "munged: already running (pid $(cat "$run_dir/munged.pid"))"
else
    runuser -u munge -- /usr/sbin/munged \
        --socket="$munge_dir/munge.socket" --pid-file="$munge_dir/munged.pid" \
        --log-file="$munge_dir/munged.log" --seed-file="$munge_dir/munged.seed"
    for _ in $(seq 50); do [[ -s "$munge_dir/munged.pid" ]] && break; sleep 0.1; done
    cp "$munge_dir/munged.pid" "$run_dir/munged.pid"
    log "munged: started (pid $(cat "$run_dir/munged.pid"))"
fi

# slurm.conf from this machine: all CPUs, 85% of the memory slurmd sees, and a per-CPU default so
# jobs do not each claim the whole node and serialize.
cpus="$(nproc)"
real_mem="$(/usr/sbin/slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
[[ -n "$real_mem" ]] || die "could not read RealMemory from 'slurmd -C'"
node_mem=$((real_mem * 85 / 100))
def_mem=$((node_mem / cpus < 2048 ? node_mem / cpus : 2048))
cat > "$FER_SLURM_CONF.tmp" <<CONF
$FER_MARKER (slurm_up.sh); edit there, not here.
ClusterName=fer
SlurmctldHost=$host
SlurmctldPort=$FER_SLURMCTLD_PORT
SlurmdPort=$FER_SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_dir/munge.socket
CredType=cred/munge
StateSaveLocation=$FER_SLURM_DIR/state/slurmctld
SlurmdSpoolDir=$FER_SLURM_DIR/state/slurmd
SlurmctldPidFile=$run_dir/slurmctld.pid
SlurmdPidFile=$run_dir/slurmd.pid
SlurmctldLogFile=$FER_SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$FER_SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobRequeue=1
MinJobAge=300
KillWait=10
NodeName=$host CPUs=$cpus RealMemory=$node_mem State=UNKNOWN
PartitionName=$FER_SLURM_PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
mv "$FER_SLURM_CONF.tmp" "$FER_SLURM_CONF"
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

start_daemon() {  # start_daemon NAME PIDFILE COMMAND...
    local name="$1" pidfile="$2"
    shift 2
    if pid_alive "$pidfile"; then
        log "$name: already running (pid $(cat "$pidfile"))"
        return 0
    fi
    "$@"
    for _ in $(seq 100); do pid_alive "$pidfile" && break; sleep 0.1; done
    pid_alive "$pidfile" || die "$name did not start; see $FER_SLURM_DIR/log/$name.log"
    log "$name: started (pid $(cat "$pidfile"))"
}
start_daemon slurmctld "$run_dir/slurmctld.pid" /usr/sbin/slurmctld -f "$FER_SLURM_CONF"
start_daemon slurmd "$run_dir/slurmd.pid" /usr/sbin/slurmd -f "$FER_SLURM_CONF"

state=""
for _ in $(seq 300); do
    state="$(sinfo -h -N -n "$host" -o %T 2>/dev/null || true)"
    [[ "$state" == "idle" || "$state" == "mixed" || "$state" == "allocated" ]] && break
    sleep 0.1
done
if [[ "$state" != "idle" && "$state" != "mixed" && "$state" != "allocated" ]]; then
    tail -n 20 "$FER_SLURM_DIR/log/slurmctld.log" "$FER_SLURM_DIR/log/slurmd.log" >&2 || true
    die "node $host is '${state:-unknown}', not idle, after 30 s"
fi
log "SLURM up: node $host $state, $cpus CPUs, ${node_mem} MB, partition $FER_SLURM_PARTITION"
log "config $FER_SLURM_CONF"
[[ -z "$conf_hint" ]] || log "$conf_hint"
