"""`fer tune`: Ray Tune search over a LightningCLI config (the paper's grids, ASHA random search).

    fer tune --config configs/demo.yaml --search configs/tune/paper_epochs_batch.yaml
    fer tune --config configs/demo.yaml --search configs/tune/asha.yaml --num-samples 16 -- --data.data_dir data/x
    fer tune --name demo-paper_epochs_batch --resume      # after an interruption: only unfinished trials run
    fer tune --config configs/paper.yaml --search configs/tune/paper_epochs_batch.yaml --workers-per-trial 4 \
        --gpus-per-worker 1                               # every trial a 4-GPU DDP job (Ray Train)

With RAY_ADDRESS set (a Ray cluster, `ray job submit`, `fer submit tune`) trials run on that cluster.
"""

from __future__ import annotations

import argparse

from lightning_fer.resources import resolve_config

HELP = "hyperparameter search with Ray Tune (grids, ASHA)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tune", help=HELP,
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=resolve_config, help="base LightningCLI config (e.g. configs/paper.yaml)")
    parser.add_argument("--search", type=resolve_config, help="search space YAML (configs/tune/*.yaml)")
    parser.add_argument("--name", help="experiment name (default: <config stem>-<search stem>)")
    parser.add_argument("--storage", default="runs/tune", help="experiments folder (made absolute; default runs/tune)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted experiment (Tuner.restore)")
    parser.add_argument("--num-samples", type=int, help="override the spec's num_samples")
    parser.add_argument("--cpus-per-trial", type=float, help="override the spec's resources.cpu")
    parser.add_argument("--gpus-per-trial", type=float, help="override the spec's resources.gpu (0 or 1)")
    parser.add_argument("--workers-per-trial", type=_positive, default=1,
                        help="ranks per trial: > 1 runs each trial as a Ray Train DDP job (default 1)")
    parser.add_argument("--cpus-per-worker", type=float, help="CPUs per rank of a multi-worker trial (spec's cpu)")
    parser.add_argument("--gpus-per-worker", type=float,
                        help="GPUs per rank of a multi-worker trial (default: 1 when the cluster has GPUs)")
    parser.add_argument("--max-concurrent", type=int, help="run at most this many trials at once")
    parser.add_argument("--max-failures", type=int, help="retries per failed trial (override the spec)")
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="after --: LightningCLI overrides for every trial, e.g. -- --data.data_dir DIR")
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from lightning_fer.tune.driver import TuneOptions, run_tune

    extra = args.extra[1:] if args.extra[:1] == ["--"] else list(args.extra)
    opts = TuneOptions(config=args.config, search=args.search, name=args.name, storage=args.storage,
                       resume=args.resume, num_samples=args.num_samples, cpus_per_trial=args.cpus_per_trial,
                       gpus_per_trial=args.gpus_per_trial, max_concurrent=args.max_concurrent,
                       max_failures=args.max_failures, workers_per_trial=args.workers_per_trial,
                       cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                       extra=tuple(extra))
    exp_dir = run_tune(opts)
    summary = (exp_dir / "summary.json")
    print(f"[fer tune] results in {exp_dir} (results.md, table.md/csv, trials.csv, best.yaml, curves.png)")
    import json

    return 0 if "best" in json.loads(summary.read_text()) else 1
