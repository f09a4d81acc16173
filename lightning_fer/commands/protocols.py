"""`fer protocols`: train one config under the frame, video and subject protocols and compare them in one table.

The frame protocol (the paper's) puts frames of one video in train and test; video and subject hold out
whole videos / whole children. The side-by-side table (protocols.md / protocols.json in --run-dir) shows
the leakage gap at a glance: frame-protocol accuracy minus subject-protocol accuracy.

    fer protocols --config configs/demo.yaml --run-dir runs/protocols
"""

from __future__ import annotations

import argparse

from lightning_fer.commands import add_config_runs_arguments, base_fit_args

PROTOCOLS = ("frame", "video", "subject")
HELP = "train one config under frame, video and subject protocols; one side-by-side table"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("protocols", help=HELP)
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                        help="which protocols to run (default: all three)")
    add_config_runs_arguments(parser, "runs/protocols", "<protocol>")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from lightning_fer.atomic_write import write_text
    from lightning_fer.evaluation.compare import leakage_gap, protocol_table
    from lightning_fer.fit_and_evaluate import fit_then_test
    from lightning_fer.wandb_study import log_protocols_study, study_run_args

    run_dir = Path(args.run_dir)
    results = {}
    for protocol in args.protocols:
        print(f"== protocol {protocol} -> {run_dir / protocol}")
        base = base_fit_args(args)
        identity = study_run_args("protocols", run_dir, "protocol", {"protocol": protocol})
        code, metrics = fit_then_test([*base[:2], *identity, *base[2:], "--data.protocol", protocol],
                                      run_dir / protocol)
        if code != 0:
            return code
        results[protocol] = metrics
    gap = leakage_gap(results)
    markdown = (f"### one config under {len(results)} protocols - `{args.config}`\n\n" + protocol_table(results)
                + "\nCells: test value [95% bootstrap interval, resampling what the last row says].\n"
                + (f"\nLeakage gap (frame accuracy, frame minus subject protocol): {gap * 100:+.2f} points.\n"
                   if gap is not None else ""))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "protocols.json", json.dumps({"config": args.config, "leakage_gap": gap,
                                                          "runs": results}, indent=2))
    write_text(run_dir / "protocols.md", markdown)
    print(markdown)
    if where := log_protocols_study(run_dir):  # the comparison's own wandb run (job_type study)
        print(f"wandb: {where}")
    return 0
