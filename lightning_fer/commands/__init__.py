"""One module per `fer` subcommand; cli.py discovers them.

Each exposes ``HELP`` (its line in `fer --help`) and ``register(subparsers)``, which adds the subparser
(with ``help=HELP``) whose ``func`` default takes the parsed namespace and returns an exit code. Only the
command being run is registered in full. Heavy imports (torch, Lightning, Ray, DALI, OpenCV) belong inside
the functions that run, never at module level or in ``register``: `fer --help` and `fer COMMAND --help`
stay fast (tests/test_cli_startup.py checks that none of them loads).
"""

from __future__ import annotations

import argparse


def add_config_runs_arguments(parser: argparse.ArgumentParser, run_dir: str, lands: str) -> None:
    """``--config``, ``--run-dir`` and ``-- overrides`` of the commands that train one config several times."""
    parser.add_argument("--config", required=True, help="LightningCLI config (as for fer fit)")
    parser.add_argument("--run-dir", default=run_dir, help=f"runs land in RUN_DIR/{lands}")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="-- then LightningCLI flags for every run")


def base_fit_args(args: argparse.Namespace) -> list[str]:
    """``--config C`` and the overrides given after ``--``, as LightningCLI arguments."""
    return ["--config", args.config, *(o for o in args.overrides if o != "--")]
