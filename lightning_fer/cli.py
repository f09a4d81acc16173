"""The one `fer` console command.

``fer fit|validate|test ...`` go to LightningCLI (YAML configs, ``--config``, ``--print_config``);
every other subcommand is a plain argparse subparser found in :mod:`lightning_fer.commands`.

    fer synth data/demo            # embedded synthetic demo dataset
    fer fit --config configs/demo.yaml

Start-up stays fast (`fer --help`, `fer COMMAND --help`; `fer bench cli` measures it): command modules
import nothing heavy at module level, and only the command being run registers its full subparser.
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


def command_names() -> list[str]:
    """The argparse subcommands (one module each in lightning_fer.commands), found without importing them."""
    return sorted(info.name for info in pkgutil.iter_modules(commands.__path__))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `fer` parser. ``command``'s module registers its full subparser; the others only their name and
    one-line help, so that building their options (which may need heavier imports) waits until they run."""
    parser = argparse.ArgumentParser(
        prog="fer",
        description="Children's facial-expression classification: data, training, tuning, clusters.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in LIGHTNING_SUBCOMMANDS:
        subparsers.add_parser(name, help=f"LightningCLI {name} (see `fer {name} --help`)", add_help=False)
    for name in command_names():
        module = importlib.import_module(f"{commands.__name__}.{name}")
        if name == command:
            module.register(subparsers)
        else:
            subparsers.add_parser(name, help=module.HELP, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from lightning_fer.lightning_cli import run_lightning_cli

        return run_lightning_cli(argv)
    parser = build_parser(argv[0] if argv else None)
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
