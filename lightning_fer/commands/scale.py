"""`fer scale run|report STUDY`: large-batch scaling studies (docs/SCALING.md).

    fer scale run configs/scale/example.yaml --backend slurm --dry-run   # print one sbatch script per point
    fer scale run configs/scale/tiny_cpu.yaml                            # every point here, one after another
    fer scale run configs/scale/tiny_cpu.yaml --backend ray              # one Ray task per point, side by side
    fer scale report configs/scale/tiny_cpu.yaml                         # CSV, markdown and PNGs in the run dir

`-- ARGS` after the study passes LightningCLI flags on to every point (e.g. -- --data.data_dir DIR).
"""

from __future__ import annotations

import argparse

from lightning_fer.resources import resolve_config

HELP = "large-batch scaling studies: run the points, report them"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scale", help=HELP)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("study", type=resolve_config, help="study YAML, e.g. configs/scale/example.yaml")
    _common_options(common)

    run = actions.add_parser("run", parents=[common], help="run (or submit) every point of the study")
    _run_options(run)
    run.add_argument("extra", nargs=argparse.REMAINDER, help="after --: LightningCLI flags for every point")
    run.set_defaults(func=_run)

    report = actions.add_parser("report", parents=[common], help="CSV, markdown and plots from the points' results")
    report.add_argument("--wandb", action=argparse.BooleanOptionalAction, default=None,
                        help="also log the table and plots to wandb (default: the study's `wandb` setting)")
    report.set_defaults(func=_report)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="where points land (default: the study's run_dir, runs/scale/<name>)")
    parser.add_argument("--only", action="append", metavar="TEXT",
                        help="only the points whose name contains TEXT (repeatable)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("local", "slurm", "ray"), default="local",
                        help="local: sequential subprocesses; slurm: one `fer submit train` job per point; "
                          "ray: one Ray task per point, side by side as resources allow (RAY_ADDRESS or a local Ray)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands/scripts; run nothing")
    parser.add_argument("--force", action="store_true",
                        help="local/ray: rerun points that already have results; each earlier point folder is "
                             "kept, renamed <point>.replaced-<time>")
    parser.add_argument("--cpus-per-rank", type=float, default=1,
                        help="ray: CPUs reserved per process of a CPU point (default: 1)")
    parser.add_argument("--cluster-config", type=resolve_config,
                        help="slurm: resources YAML (default: the study's cluster_config)")
    parser.add_argument("--wait", action="store_true", help="slurm: wait for every job to end")
    parser.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                        help="local/ray: write the report after the last point (default: yes)")


def _load(args: argparse.Namespace, extra: list[str] | None = None):
    from lightning_fer.errors import UserError
    from lightning_fer.scale.plan import expand
    from lightning_fer.scale.study import load_study

    study = load_study(args.study)
    if args.run_dir:
        study.run_dir = args.run_dir
    points = expand(study, extra or [])
    if args.only:
        points = [p for p in points if any(s in p.name for s in args.only)]
        if not points:
            raise UserError(f"--only {' '.join(args.only)} matches no point of {args.study}")
    return study, points


def _run(args: argparse.Namespace) -> int:
    import json

    from lightning_fer.atomic_write import write_text
    from lightning_fer.scale import backends
    from lightning_fer.scale.plan import describe, plan_record

    extra = _split_extra(args)
    study, points = _load(args, extra)
    print(f"study {study.name}: {len(points)} point(s) -> {study.out_dir}\n{describe(points)}", flush=True)
    if not args.dry_run:
        study.out_dir.mkdir(parents=True, exist_ok=True)
        write_text(study.out_dir / "scale_plan.json", json.dumps(plan_record(points), indent=2))
    if args.backend == "slurm":
        return backends.run_slurm(points, args.cluster_config or study.cluster_config, study.base_config,
                                  dry_run=args.dry_run, wait=args.wait)
    if args.backend == "ray":
        code = backends.run_ray(points, dry_run=args.dry_run, force=args.force, cpus_per_rank=args.cpus_per_rank)
    else:
        code = backends.run_local(points, dry_run=args.dry_run, force=args.force)
    if code == 0 and not args.dry_run and args.report:
        _write_report(study, points, wandb=None)
    return code


def _split_extra(args: argparse.Namespace) -> list[str]:
    """A remainder after a positional swallows later options too (and argparse may drop the `--`): parse our
    own options out of it; the rest are LightningCLI flags for the points."""
    options = argparse.ArgumentParser(prog="fer scale run", add_help=False, allow_abbrev=False)
    _common_options(options)
    _run_options(options)
    before, after = list(args.extra), []
    if "--" in before:
        cut = before.index("--")
        before, after = before[:cut], before[cut + 1:]
    _, unknown = options.parse_known_args(before, namespace=args)
    return [*unknown, *after]


def _report(args: argparse.Namespace) -> int:
    study, points = _load(args)
    return _write_report(study, points, wandb=args.wandb)


def _write_report(study, points, wandb: bool | None) -> int:
    from lightning_fer.errors import UserError
    from lightning_fer.scale.report import build_report, log_to_wandb

    report = build_report(study, points)
    print(report.markdown)
    print(f"wrote {report.csv}, {report.markdown_path}" + "".join(f", {p}" for p in report.plots.values()))
    if report.table.empty:
        raise UserError(f"no point of study {study.name} has results yet under {study.out_dir}: run it first")
    use_wandb = wandb if wandb is not None else _base_wandb(study)
    if use_wandb:
        print(f"wandb: {log_to_wandb(study, report, study.wandb_project or 'lightning-fer')}")
    return 0


def _base_wandb(study) -> bool:
    from lightning_fer.yaml_mapping import load_yaml_mapping

    if study.wandb is not None:
        return bool(study.wandb)
    from lightning_fer.wandb_runs import wandb_options

    return wandb_options(load_yaml_mapping(study.base_config, "base config").get("wandb")) is not None
