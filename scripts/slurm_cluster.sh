#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for testing `fmbench run --executor slurm` against a real
# slurmctld (tests/test_slurm.py starts one through this script):
#
#     bash scripts/slurm_cluster.sh start DIR    # then: export SLURM_CONF=DIR/slurm.conf
#     bash scripts/slurm_cluster.sh stop DIR
#
# `start` writes DIR/slurm.conf for this host (2 CPUs, partitions `debug` (default) and `batch`; no
# cgroups: proctrack/linuxproc and task/none; no accounting database, so `sacct` is not available), starts
# munged (its own key and socket in DIR), slurmctld and slurmd (state, spool, logs and pid files in DIR),
# and waits until `sinfo` shows the node idle (slurmctld starts clean, without an earlier start's jobs).
# `stop` cancels the cluster's jobs and stops the three daemons, leaving none behind. Needs root and
# Debian's packages `slurm-wlm` and `munge` (tested with SLURM 22.05.8 and munge 0.5.15 on Debian 12);
# it installs nothing. When it cannot start it says why in one line on stderr, stops what it started and
# exits 1; every wait has a time limit.
#
# Settings (environment): FMBENCH_SLURM_PORTS="6817 6818" (slurmctld's and slurmd's TCP ports),
# FMBENCH_SLURM_CPUS=2, FMBENCH_SLURM_WAIT_S=30 (the longest wait for one daemon).
set -uo pipefail

CPUS=${FMBENCH_SLURM_CPUS:-2}
WAIT_S=${FMBENCH_SLURM_WAIT_S:-30}
read -r CTLD_PORT SLURMD_PORT <<<"${FMBENCH_SLURM_PORTS:-6817 6818}"

fail() {  # fail DIR MESSAGE: one line on stderr, stop what was started, exit 1
    echo "slurm_cluster: cannot start: $2" >&2
    stop "$1" >/dev/null 2>&1
    exit 1
}

port_in_use() {  # is something listening on TCP port $1?
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

wait_for() {  # wait_for SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds; 1 if it never did
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

running() { [[ "$(ps -o stat= -p "$1" 2>/dev/null)" == [^Z]* ]]; }  # a zombie has ended

not_running() { ! running "$1"; }

alive() { [[ -s "$1" ]] && running "$(cat "$1")"; }

node_idle() { [[ "$(timeout 5 sinfo -h -n "$NODE" -o %t 2>/dev/null)" == idle ]]; }

write_conf() {  # write_conf DIR
    local dir=$1 mem_mb
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    cat >"$dir/slurm.conf" <<EOF
# One-node cluster written by fmbench's scripts/slurm_cluster.sh
ClusterName=fmbench
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=$NODE MaxTime=INFINITE State=UP
EOF
    : >"$dir/plugstack.conf"
}

start() {  # start DIR
    local dir=$1
    [[ $EUID -eq 0 ]] || fail "$dir" "not root (slurmd and munged run as root here; use sudo)"
    local cmd
    for cmd in munged mungekey slurmctld slurmd sinfo scontrol squeue scancel sbatch srun; do
        command -v "$cmd" >/dev/null ||
            fail "$dir" "$cmd not found: package missing (apt-get install slurm-wlm munge)"
    done
    local port
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
        port_in_use "$port" && fail "$dir" "port $port in use (another slurmctld or slurmd running?)"
    done
    mkdir -p "$dir"/{munge,state,spool} && chmod 700 "$dir" "$dir/munge" ||
        fail "$dir" "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    write_conf "$dir"
    export SLURM_CONF=$dir/slurm.conf
    timeout 10 mungekey --create --keyfile="$dir/munge/munge.key" 2>"$dir/munge/mungekey.log" ||
        fail "$dir" "mungekey could not create a key: $(tail -1 "$dir/munge/mungekey.log")"
    timeout 10 munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
        --seed-file="$dir/munge/munged.seed" 2>>"$dir/munge/munged.log" ||
        fail "$dir" "munged did not start: $(tail -1 "$dir/munge/munged.log")"
    timeout 10 slurmctld -c -f "$SLURM_CONF" 2>>"$dir/slurmctld.log" ||
        fail "$dir" "slurmctld did not start: $(tail -1 "$dir/slurmctld.log")"
    wait_for "$WAIT_S" timeout 5 scontrol ping ||
        fail "$dir" "slurmctld does not answer after ${WAIT_S} s: $(tail -1 "$dir/slurmctld.log")"
    timeout 10 slurmd -f "$SLURM_CONF" -N "$NODE" 2>>"$dir/slurmd.log" ||
        fail "$dir" "slurmd did not start: $(tail -1 "$dir/slurmd.log")"
    wait_for "$WAIT_S" node_idle ||
        fail "$dir" "node $NODE not idle after ${WAIT_S} s: $(tail -1 "$dir/slurmd.log")"
    echo "SLURM_CONF=$SLURM_CONF"
}

stop() {  # stop DIR: cancel the jobs, stop slurmd, slurmctld and munged (SIGKILL after 10 s)
    local dir=$1 pidfile pid
    [[ -f "$dir/slurm.conf" ]] && export SLURM_CONF=$dir/slurm.conf
    if alive "$dir/slurmctld.pid"; then
        timeout 10 scancel --full --quiet --user=root 2>/dev/null
        wait_for 15 bash -c '[[ -z "$(timeout 5 squeue -h -o %i)" ]]'
    fi
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        alive "$pidfile" || continue
        pid=$(cat "$pidfile")
        kill "$pid"
        wait_for 10 not_running "$pid" || kill -9 "$pid" 2>/dev/null
    done
}

NODE=$(hostname -s)
case "${1:-}:${2:-}" in
start:?*) start "$2" ;;
stop:?*) stop "$2" ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
