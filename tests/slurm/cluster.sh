#!/usr/bin/env bash
# A single-node SLURM cluster for the batch-job tests, started by hand (no
# systemd): munged, slurmctld and slurmd from Debian's slurm-wlm and munge,
# with a generated slurm.conf under $SLURM_DIR (tests/run-all.sh gives each
# run its own) and on two ports that are free when it starts. Stops only the
# daemons it started, by the pids it recorded.
#
#   tests/slurm/cluster.sh start   # prints the SLURM_CONF to export
#   tests/slurm/cluster.sh stop
set -euo pipefail
dir=${SLURM_DIR:-/var/tmp/cenv-slurm}
conf="$dir/slurm.conf"

stop() {
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
    # job processes left behind by `scancel --batch` with proctrack/linuxproc
    if [ -s "$dir/job-pids" ]; then
        xargs -r kill -9 < "$dir/job-pids" 2>/dev/null || true
    fi
}

start() {
    stop
    rm -rf "$dir"
    mkdir -p "$dir"/{spool,state,log,munge}
    chmod 755 "$dir"
    chown munge:munge "$dir/munge"
    host=$(hostname -s)
    # two ports nothing listens on now (another cluster on this machine, a
    # real slurmd on 6817/6818)
    read -r ctld_port slurmd_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("", 0))
print(*[s.getsockname()[1] for s in socks])')
    cat > "$conf" <<CONF
ClusterName=cenvtest
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket.2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
DefMemPerCPU=100
InactiveLimit=0
KillWait=5
MinJobAge=600
MaxArraySize=1001
PlugStackConfig=$dir/plugstack.conf
NodeName=$host CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
    chmod 644 "$conf"
    # cenv's SPANK plugin, when the suite built one (CENV_SPANK_PLUGIN)
    if [ -n "${CENV_SPANK_PLUGIN:-}" ]; then
        echo "optional $CENV_SPANK_PLUGIN" > "$dir/plugstack.conf"
    else
        : > "$dir/plugstack.conf"
    fi
    chmod 644 "$dir/plugstack.conf"
    setpriv --reuid munge --regid munge --clear-groups -- munged \
        --socket="$dir/munge/munge.socket.2" --pid-file="$dir/munge/munged.pid" --force
    for _ in $(seq 50); do [ -S "$dir/munge/munge.socket.2" ] && break; sleep 0.1; done
    slurmctld -f "$conf"
    slurmd -f "$conf"
    for _ in $(seq 100); do
        if SLURM_CONF="$conf" sinfo -h -o %t 2>/dev/null | grep -qx idle; then
            echo "$conf"
            return 0
        fi
        sleep 0.2
    done
    echo "the SLURM node did not come up; logs in $dir/log" >&2
    tail -5 "$dir"/log/*.log >&2 || true
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
