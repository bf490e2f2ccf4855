"""sbatch: submit a batch script and print ``Submitted batch job N`` (``N`` with --parsable)."""
from __future__ import annotations

import sys

from hpcq.shims import common
from hpcq.shims.slurm import options

PROG = "sbatch"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    return common.run(lambda: _submit(args, conn),
                      lambda e: common.slurm_failure(PROG, e, "sbatch: error: Batch job submission failed: "))


def _submit(argv: list[str], conn: common.Connection) -> int:
    request = options.parse(argv, common.SubmitContext.current())
    if request.help:
        common.write(options.USAGE)
        return 0
    job_ids = conn.client.submit([request.spec], test_only=request.test_only)
    if request.test_only:
        partition = request.spec.queue or "(default)"
        print(f"sbatch: Job {job_ids[0] if job_ids else 0} can be submitted to partition {partition}; "
              "hpcq gives no start estimate", file=sys.stderr)
    elif request.parsable:
        common.write(str(job_ids[0]))
    elif not request.quiet:
        common.write(f"Submitted batch job {job_ids[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
