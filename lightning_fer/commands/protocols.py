"""`fer protocols`: train one config under the frame, video and subject protocols and compare them in one table.

The frame protocol (the paper's) puts frames of one video in train and test; video and subject hold out
whole videos / whole children. The side-by-side table (protocols.md / protocols.json in --run-dir) shows
the leakage gap at a glance: frame-protocol accuracy minus subject-protocol accuracy.

    fer protocols --config configs/demo.yaml --run-dir runs/protocols
"""

from __future__ import annotations

import argparse

PROTOCOLS = ("frame", "video", "subject")
HELP = "train one config under frame, video and subject protocols; one side-by-side table"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("protocols", help=HELP)
    parser.add_argument("--config", required=True, help="LightningCLI config (as for fer fit)")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                        help="which protocols to run (default: all three)")
    parser.add_argument("--run-dir", default="runs/protocols", help="runs land in RUN_DIR/<protocol>")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="-- then LightningCLI flags for every run")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from lightning_fer.atomic_write import write_text
    from lightning_fer.evaluation.compare import leakage_gap, protocol_table
    from lightning_fer.fit_test import fit_then_test

    overrides = [o for o in args.overrides if o != "--"]
    run_dir = Path(args.run_dir)
    results = {}
    for protocol in args.protocols:
        print(f"== protocol {protocol} -> {run_dir / protocol}")
        code, metrics = fit_then_test(["--config", args.config, *overrides, "--data.protocol", protocol],
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
    return 0
