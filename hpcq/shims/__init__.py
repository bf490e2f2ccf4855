"""The PBS (pbs/) and Slurm (slurm/) commands, and what they share:

shim.py            Shim: how each command is declared and run (argv, body, failures, exit)
connection.py      the command's client, opened at its first call
errors.py          ShimError; a failed call in Slurm's or PBS's words and exit codes
getopt.py          option scanning as GNU getopt_long does it
directives.py      the job script and its #PBS / #SBATCH lines; options applied in order
submit_context.py  the calling process as a job records it (user, host, directory, ...)
values.py          numbers, signals, lists and index ranges as options spell them
output.py          stdout and stderr: output, failures, a job action's refusals
clock.py           the time commands work against
record.py          Record: parsed requests and rows without dataclasses
versions.py        the Slurm and PBS releases reproduced; --help and --version
arrays.py          array jobs as the commands show them
"""
