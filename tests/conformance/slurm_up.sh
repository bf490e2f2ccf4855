#!/usr/bin/env bash
# The reference Slurm of the conformance suite: Debian's slurm-wlm 22.05 on this host, on the
# recipe of shared/anchors/slurm/up.sh (munge, a private MariaDB on port 3307, slurmdbd so that
# sacct works), installed with apt on a fresh machine.
#
# munge, MariaDB and slurmdbd are the host's shared services, started exactly as up.sh starts
# them (and reused when up.sh already did). slurmctld and slurmd are the suite's OWN instance:
# their own slurm.conf (SLURM_CONF=$CONF), ports, state and spool under $BASE, and a fresh
# state at every start, so that no one else's jobs show in a listing and job ids start at 1,
# as hpcq's do.
#
# Usage: slurm_up.sh          install if needed, (re)start the suite's slurmctld+slurmd
#        slurm_up.sh down     stop the suite's slurmctld+slurmd (the shared services stay)
# Prints the SLURM_CONF to use. CPUS / MEMORY_MB: the node's declared size (the hpcq cluster
# of the suite is given the same).
set -euo pipefail
BASE=${HPCQ_CONFORMANCE_SLURM:-/var/tmp/hpcq-conformance}
SHARED=/var/tmp/slurm-anchor          # up.sh's services: munge, mariadb, slurmdbd
CONF=$BASE/etc/slurm.conf
HOST=$(hostname -s)
CPUS=${CPUS:-4}
MEMORY_MB=${MEMORY_MB:-4000}
CLUSTER=${CLUSTER:-$HOST}      # the suite gives each run its own (the slurmdbd is shared)
CTLD_PORT=6917
SLURMD_PORT=6918

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() {   # stop the daemon of a pid file, waiting for it to go
  if alive "$1"; then
    kill "$(cat "$1")"
    for _ in $(seq 100); do alive "$1" || break; sleep 0.1; done
  fi
  rm -f "$1"
}

cancel_all() {   # end the instance's jobs: stopping slurmd would leave their processes running
  if alive $BASE/run/slurmctld.pid; then
    SLURM_CONF=$CONF /usr/bin/scancel --user=root >/dev/null 2>&1 || true
    for _ in $(seq 150); do
      [ -z "$(SLURM_CONF=$CONF /usr/bin/squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2
    done
  fi
}

if [ "${1:-}" = down ]; then
  cancel_all
  stop $BASE/run/slurmctld.pid; stop $BASE/run/slurmd.pid
  exit 0
fi

# ---------------------------------------------------------------- packages
need=()
for p in slurm-wlm slurmdbd munge mariadb-server; do dpkg -s $p >/dev/null 2>&1 || need+=($p); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
# The corpus is generated from the man pages: minimal images drop /usr/share/man at install.
if [ ! -e /usr/share/man/man1/squeue.1.gz ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall \
    -o Dpkg::Options::=--path-include='/usr/share/man/man1/*' slurm-client slurmdbd
fi

mkdir -p $SHARED/{log,run,mysql} $BASE/{etc,state,slurmd,log,run} /etc/slurm

# ---------------------------------------------------------------- munge (shared, as up.sh)
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
if ! alive /run/munge/munged.pid; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do alive /run/munge/munged.pid && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null

# ---------------------------------------------------------------- mariadb + slurmdbd (shared, as up.sh)
if [ ! -d $SHARED/mysql/data/mysql ]; then
  mariadb-install-db --no-defaults --user=mysql --datadir=$SHARED/mysql/data >$SHARED/log/mariadb-install.log 2>&1
fi
chown -R mysql:mysql $SHARED/mysql
if ! alive $SHARED/run/mariadbd.pid; then
  /usr/sbin/mariadbd --no-defaults --user=mysql --datadir=$SHARED/mysql/data \
    --socket=$SHARED/mysql/mysqld.sock --port=3307 --bind-address=127.0.0.1 \
    --pid-file=$SHARED/mysql/mariadbd.pid --log-error=$SHARED/log/mariadbd.err \
    --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900 --innodb-log-file-size=64M \
    >/dev/null 2>&1 &
  echo $! > $SHARED/run/mariadbd.pid
  for _ in $(seq 100); do mariadb -S $SHARED/mysql/mysqld.sock -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
fi
mariadb -S $SHARED/mysql/mysqld.sock <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmanchor';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmanchor';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
if [ ! -s /etc/slurm/slurmdbd.conf ]; then
  cat > /etc/slurm/slurmdbd.conf <<EOC
AuthType=auth/munge
DbdHost=$HOST
DbdPort=6819
SlurmUser=root
PidFile=$SHARED/run/slurmdbd.pid
LogFile=$SHARED/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurmanchor
StorageLoc=slurm_acct_db
EOC
  chmod 600 /etc/slurm/slurmdbd.conf
fi
if ! alive $SHARED/run/slurmdbd.pid; then
  /usr/sbin/slurmdbd
  for _ in $(seq 100); do
    alive $SHARED/run/slurmdbd.pid && (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.2
  done
fi

# ---------------------------------------------------------------- the suite's slurmctld + slurmd
cancel_all
stop $BASE/run/slurmctld.pid; stop $BASE/run/slurmd.pid
rm -rf $BASE/state/* $BASE/slurmd/* $BASE/log/*
# A partition's DefaultTime of 60 minutes, as hpcq's default_walltime.
cat > $CONF <<EOC
# The conformance suite's reference Slurm. Written by tests/conformance/slurm_up.sh
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmdSpoolDir=$BASE/slurmd
StateSaveLocation=$BASE/state
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=5
MessageTimeout=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MaxArraySize=10001
# Finished jobs stay listed (Slurm forgets them after 300 s by default; hpcq keeps them).
MinJobAge=86400
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$HOST
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
NodeName=$HOST CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=batch Nodes=$HOST Default=YES DefaultTime=60 MaxTime=INFINITE State=UP
EOC
export SLURM_CONF=$CONF
/usr/bin/sacctmgr -i -Q add cluster $CLUSTER >/dev/null 2>&1 || true
/usr/sbin/slurmctld -i      # daemonises, writes its PidFile; -i: ignore (there is no) old state
/usr/sbin/slurmd
st=
for _ in $(seq 300); do
  st=$(/usr/bin/sinfo -h -N -o %t 2>/dev/null | head -1 || true)
  case "$st" in idle|mix|alloc) break ;; esac
  sleep 0.2
done
case "$st" in idle|mix|alloc) echo "$CONF" ;; *) echo "slurm_up.sh: node state '$st', see $BASE/log" >&2; exit 1 ;; esac
