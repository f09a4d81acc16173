"""The one `fer` console command.

``fer fit|validate|test ...`` go to LightningCLI (YAML configs, ``--config``, ``--print_config``);
every other subcommand is a plain argparse subparser found in :mod:`lightning_fer.commands`.

    fer synth data/demo            # embedded synthetic demo dataset
    fer fit --config configs/demo.yaml
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from lightning_fer import commands
from lightning_fer.errors import UserError

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fer",
        description="Children's facial-expression classification: data, training, tuning, clusters.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in LIGHTNING_SUBCOMMANDS:
        subparsers.add_parser(name, help=f"LightningCLI {name} (see `fer {name} --help`)", add_help=False)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from lightning_fer.lightning_cli import run_lightning_cli

        return run_lightning_cli(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"fer {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
