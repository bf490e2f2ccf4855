#!/usr/bin/env bash
# The benchmarks of `make bench` on two revisions, in one run on this machine: each
# revision is checked out into a temporary worktree and runs its own bench scripts with
# its own code (PYTHONPATH) and this checkout's venv, one revision after the other per
# script, so both meet the same machine. Prints each script's figures for both.
#
#   bash bench/compare.sh BEFORE [AFTER=HEAD] [SCRIPT ...]    (scripts: submit cli throughput sched)
set -euo pipefail
before=${1:?usage: bench/compare.sh BEFORE [AFTER] [SCRIPT ...]}
after=${2:-HEAD}
shift $(( $# >= 2 ? 2 : 1 ))
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(submit cli throughput sched)
root=$(git rev-parse --show-toplevel)
venv="$root/.venv/bin"
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/before" 2>/dev/null; git -C "$root" worktree remove --force "$work/after" 2>/dev/null; rm -rf "$work"' EXIT
for side in before after; do
    rev=$before; [ "$side" = after ] && rev=$after
    git -C "$root" worktree add --quiet --detach "$work/$side" "$rev"
    "$venv/python" -m compileall -q "$work/$side/hpcq"
done
for script in "${scripts[@]}"; do
    for side in before after; do
        rev=$before; [ "$side" = after ] && rev=$after
        echo "=== $script.py on $side ($(git -C "$root" rev-parse --short "$rev"))"
        (cd "$work/$side" && PYTHONPATH="$work/$side" PATH="$venv:$PATH" "$venv/python" "bench/$script.py")
    done
done
