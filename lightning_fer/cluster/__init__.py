"""Submitting `fer` work to SLURM: resources from YAML, sbatch scripts from `cluster/slurm/` templates.

fer submit train --config configs/demo.yaml --cluster-config configs/cluster/local_cpu.yaml --wait
"""
