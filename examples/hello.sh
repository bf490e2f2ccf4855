#!/bin/bash
#SBATCH --job-name=hello_slurm
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --mem=100M
#SBATCH --time=5:00
echo "Hello from Slurm job $SLURM_JOB_ID ($SLURM_JOB_NAME) on $SLURMD_NODENAME"
echo "partition $SLURM_JOB_PARTITION, nodes $SLURM_JOB_NODELIST, CPUs on node $SLURM_CPUS_ON_NODE"
echo "started in $(pwd)"
sleep 2   # long enough for qstat and squeue to show it running
