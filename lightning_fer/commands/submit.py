"""`fer submit train|prepare|tune|run`: render a `cluster/slurm/` template from a cluster config and sbatch it.

    fer submit train --config configs/demo.yaml --cluster-config configs/cluster/local_cpu.yaml --wait
    fer submit prepare data/raw data/clips --array 8 --dry-run
    fer submit tune --config configs/demo.yaml --search configs/tune/asha.yaml --nodes 2 --gpus-per-node 4
    fer submit run --tasks-per-node 2 -- python -c "import os; print(os.environ['SLURM_PROCID'])"

Flags override the cluster config; `-- ARGS` passes ARGS on to the fer command (or is the command, for run).
"""

from __future__ import annotations

import argparse

from lightning_fer.resources import resolve_config

HELP = "submit training, the crop pass or tuning to SLURM"

RESOURCE_FLAGS = (
    "nodes",
    "gpus_per_node",
    "tasks_per_node",
    "cpus_per_task",
    "mem",
    "partition",
    "account",
    "time",
    "job_name",
    "log_dir",
)


def _resource_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("resources (override --cluster-config)")
    group.add_argument("--cluster-config", type=resolve_config,
                       help="YAML of resources, e.g. configs/cluster/local_cpu.yaml")
    group.add_argument("--nodes", type=int)
    group.add_argument("--gpus-per-node", type=int)
    group.add_argument("--tasks-per-node", type=int, help="processes per node (default: GPUs per node, or 1)")
    group.add_argument("--cpus-per-task", type=int)
    group.add_argument("--mem", help="memory per node, e.g. 8G")
    group.add_argument("--partition")
    group.add_argument("--account")
    group.add_argument("--time", help="time limit, e.g. 00:30:00")
    group.add_argument("--job-name")
    group.add_argument("--log-dir", help="job logs and submitted scripts (default runs/slurm/)")
    group.add_argument("--dry-run", action="store_true", help="print the rendered script(s); submit nothing")
    group.add_argument("--wait", action="store_true", help="wait for the job(s) to end; exit with their exit code")
    return parent


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("submit", help=HELP)
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    parent = _resource_parent()
    extra = {"nargs": argparse.REMAINDER, "help": "after --: arguments passed on to the fer command"}

    train = kinds.add_parser("train", parents=[parent], help="srun fer fit on every rank (DDP), requeue-safe")
    train.add_argument("--config", type=resolve_config, required=True, help="LightningCLI config for fer fit")
    train.add_argument("--ckpt-path", default="last", help="resume from this checkpoint ('none' to start fresh)")
    train.add_argument("--no-requeue", dest="requeue", action="store_false",
                       help="a lost node ends the job (NODE_FAIL, non-zero with --wait) instead of requeueing it; "
                            "resubmit to resume from last.ckpt")
    train.add_argument("extra", **extra)
    train.set_defaults(func=_train)

    prepare = kinds.add_parser("prepare", parents=[parent], help="the crop pass as a job array + a merge job")
    prepare.add_argument("root", help="folder of source videos")
    prepare.add_argument("out", help="output folder of clips and the manifest")
    prepare.add_argument("--array", type=int, required=True, help="number of array tasks (shards)")
    prepare.add_argument("--max-parallel", type=int, help="run at most this many array tasks at once")
    # argparse cannot mix two positionals with a `--` remainder, so extra prepare flags come as one string.
    prepare.add_argument("--prepare-args", default="", help='extra fer prepare flags, e.g. "--workers 4"')
    prepare.set_defaults(func=_prepare)

    tune = kinds.add_parser("tune", parents=[parent], help="fer tune on a Ray cluster started in the allocation")
    tune.add_argument("--config", type=resolve_config, required=True, help="base LightningCLI config")
    tune.add_argument("--search", type=resolve_config, help="search space YAML, e.g. configs/tune/asha.yaml")
    tune.add_argument("extra", **extra)
    tune.set_defaults(func=_tune)

    run = kinds.add_parser("run", parents=[parent], help="any command, srun once per task")
    run.add_argument("extra", **{**extra, "help": "after --: the command"})
    run.set_defaults(func=_run)


def _resources(args: argparse.Namespace):
    from lightning_fer.cluster.resources import load_resources

    return load_resources(args.cluster_config, **{name: getattr(args, name) for name in RESOURCE_FLAGS})


def _extra(args: argparse.Namespace) -> list[str]:
    return args.extra[1:] if args.extra[:1] == ["--"] else list(args.extra)


def _execute(args: argparse.Namespace, plan) -> int:
    from lightning_fer.cluster.submit import run_plan

    return run_plan(plan, dry_run=args.dry_run, wait=args.wait)


def _train(args: argparse.Namespace) -> int:
    from lightning_fer.cluster.jobs import train_script
    from lightning_fer.errors import UserError

    ckpt = None if args.ckpt_path.lower() == "none" else args.ckpt_path
    if any(a == "--new_run" or a.startswith("--new_run=") for a in _extra(args)):
        raise UserError("--new_run cannot be submitted: every requeue of the job would start yet another run "
                        "folder; pass a new --trainer.default_root_dir instead")
    return _execute(args, [train_script(_resources(args), args.config, _extra(args), ckpt_path=ckpt,
                                          requeue=args.requeue)])


def _prepare(args: argparse.Namespace) -> int:
    import shlex

    from lightning_fer.cluster.jobs import prepare_scripts

    extra = shlex.split(args.prepare_args)
    plan = prepare_scripts(_resources(args), args.root, args.out, args.array, args.max_parallel, extra)
    return _execute(args, plan)


def _tune(args: argparse.Namespace) -> int:
    from lightning_fer.cluster.jobs import tune_script

    return _execute(args, [tune_script(_resources(args), args.config, args.search, _extra(args))])


def _run(args: argparse.Namespace) -> int:
    from lightning_fer.cluster.jobs import run_script

    return _execute(args, [run_script(_resources(args), _extra(args))])
