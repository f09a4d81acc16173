"""`fer cv`: k-fold or leave-one-subject-out cross-validation: fit + test per fold, mean and std over folds.

Each fold is a normal run (`fer fit` then `fer test` on its best checkpoint) in <run-dir>/fold_<i>;
the summary (cv_summary.json / .md) states the protocol, a per-fold table (test subjects, frame and clip
accuracy, balanced accuracy, macro-F1) and each metric's mean with a 95% bootstrap interval over folds
(with `--folds loso` every fold is one child, so the interval resamples children). Rerunning resumes the folds
that hold checkpoints (`--ckpt_path last`: a finished fold trains no further).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from lightning_fer.commands import add_config_runs_arguments, base_fit_args

HELP = "cross-validation over subjects/videos (k-fold or leave-one-out)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cv", help=HELP)
    parser.add_argument("--folds", default="loso",
                        help="number of folds, or 'loso' for one fold per group (leave-one-subject-out)")
    add_config_runs_arguments(parser, "runs/cv", "fold_<i>")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lightning_fer.atomic_write import write_text
    from lightning_fer.errors import UserError
    from lightning_fer.fit_and_evaluate import fit_then_test
    from lightning_fer.lightning_cli import make_cli
    from lightning_fer.wandb_study import log_cv_study, study_run_args

    base = base_fit_args(args)
    if args.folds == "loso":
        cli = make_cli(base, run=False)  # run=False: LightningCLI has no subcommands
        manifest_groups = cli.datamodule.prepare_splits()
        key = "subject" if cli.datamodule.protocol == "subject" else "video_id"
        folds = len({getattr(r, key) for stage in manifest_groups.values() for r in stage})
    else:
        try:
            folds = int(args.folds)
        except ValueError:
            raise UserError(f"--folds {args.folds!r}: expected a number or 'loso'") from None
    if folds < 2:
        raise UserError(f"cross-validation needs at least 2 folds, got {folds}")
    run_dir = Path(args.run_dir)
    results = []
    for fold in range(folds):
        fold_dir = run_dir / f"fold_{fold}"
        print(f"== fold {fold + 1}/{folds} -> {fold_dir}")
        identity = study_run_args("cv", run_dir, "fold", {"fold": fold, "num_folds": folds})
        code, metrics = fit_then_test([*base[:2], *identity, *base[2:], "--data.num_folds", str(folds),
                                       "--data.fold", str(fold)], fold_dir)
        if code != 0:
            return code
        results.append(metrics)
    summary = summarize(results)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "cv_summary.json", json.dumps(summary, indent=2))
    write_text(run_dir / "cv_summary.md", summary["markdown"])
    print(summary["markdown"])
    if where := log_cv_study(run_dir):  # the cross-validation's own wandb run (job_type study)
        print(f"wandb: {where}")
    return 0


def summarize(results: list[dict]) -> dict:
    """Mean and sample std of per-fold test accuracy (and loss), with the protocol they were measured under;
    per metric the folds' values, mean and bootstrap interval of the mean; a per-fold markdown table."""
    from lightning_fer.evaluation.compare import fold_summary, fold_table

    accs = [r["accuracy"] for r in results]
    losses = [r["loss"] for r in results if r.get("loss") is not None]
    protocol = results[0]["protocol"] if results else "unknown"
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    metrics = fold_summary(results)
    low, high = metrics["frame_accuracy"]["ci"]
    lines = [f"### cross-validation - protocol `{protocol}` - {len(accs)} folds",
             f"test accuracy {statistics.mean(accs) * 100:.2f}% +- {std * 100:.2f}% (mean +- std over folds; "
             f"95% bootstrap interval of the mean over folds {low * 100:.2f}% - {high * 100:.2f}%)", "",
             fold_table(results, metrics)]
    return {"protocol": protocol, "folds": len(accs), "accuracy_mean": statistics.mean(accs), "accuracy_std": std,
            "loss_mean": statistics.mean(losses) if losses else None, "metrics": metrics, "per_fold": results,
            "markdown": "\n".join(lines)}
