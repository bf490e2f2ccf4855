#!/usr/bin/env bash
# make demo: a local cluster, one PBS and one Slurm script, their status and output.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/hpcq-demo.XXXXXX")"
cp "$repo/examples/hello.pbs" "$repo/examples/hello.sh" "$work/"
cd "$work"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step hpcqctl up --nodes 2
pbs_id=$(qsub hello.pbs); echo "\$ qsub hello.pbs"; echo "$pbs_id"
slurm_out=$(sbatch hello.sh); echo "\$ sbatch hello.sh"; echo "$slurm_out"
slurm_id=${slurm_out##* }
step qstat
step squeue

# Wait (with a deadline) until both jobs have left the queue.
for _ in $(seq 1 300); do
    if [ -z "$(squeue -h -j "$slurm_id,${pbs_id%%.*}" 2>/dev/null)" ]; then break; fi
    sleep 0.1
done
step qstat -x "$pbs_id"
step squeue -t all -j "$slurm_id"
echo; echo "--- $work/hello_pbs.o${pbs_id%%.*} ---"; cat "hello_pbs.o${pbs_id%%.*}"
echo; echo "--- $work/slurm-$slurm_id.out ---"; cat "slurm-$slurm_id.out"
echo; echo "The cluster keeps running (state in ${HPCQ_HOME:-~/.local/state/hpcq}); stop it with: hpcqctl down"
