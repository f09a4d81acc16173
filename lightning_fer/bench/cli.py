"""`fer bench cli`: start-up wall time of `fer --help` and every `fer COMMAND [SUB] --help` vs the heavy stack.

    fer bench cli [--rounds 5]

Every case is a fresh process, interpreter start included, as a user runs it: `python -m lightning_fer.cli
... --help`. The baseline is a process that only imports torch, Lightning and Ray, the price every `fer --help`
paid while command modules imported them at module level. Rounds run the cases one after another, alternating
(so a burst of load elsewhere hits every case alike); each row gives the median and the spread (min-max).
`fer fit --help` goes through LightningCLI, which needs Lightning and the model's signatures: it is shown
beside the others, honestly, and not held to the target.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from lightning_fer.bench.record import BenchResult

NAME = "cli"
HELP = "start-up: `fer --help` and each `fer COMMAND --help` vs importing torch + Lightning + Ray"
TARGET_S = 1.5  # the bound for `fer --help` and `fer COMMAND --help`
HEAVY_STACK = ("torch", "pytorch_lightning", "ray")
BASELINE = f"python -c 'import {', '.join(HEAVY_STACK)}' (eager heavy imports)"
FLOOR = "python -c pass (interpreter start)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every case; median and spread reported")


def help_commands() -> list[list[str]]:
    """argv of `fer --help` and of `fer COMMAND --help` / `fer COMMAND SUB --help` for every argparse command."""
    from lightning_fer.cli import build_parser, command_names

    argvs = [["--help"]]
    for name in command_names():
        argvs.append([name, "--help"])
        command = _subcommands(build_parser(name))[name]
        argvs += [[name, sub, "--help"] for sub in _subcommands(command)]
    return argvs


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def run(args: argparse.Namespace) -> BenchResult:
    from lightning_fer.bench.data import load_note
    from lightning_fer.errors import UserError

    if args.rounds < 1:
        raise UserError("--rounds must be at least 1")
    cases = {FLOOR: [sys.executable, "-c", "pass"],
             BASELINE: [sys.executable, "-c", f"import {', '.join(HEAVY_STACK)}"]}
    for argv in [*help_commands(), ["fit", "--help"]]:
        cases["fer " + " ".join(argv)] = [sys.executable, "-m", "lightning_fer.cli", *argv]
    times: dict[str, list[float]] = {label: [] for label in cases}
    for round_ in range(args.rounds):
        for label, cmd in cases.items():
            times[label].append(_wall(cmd, label))
        print(f"round {round_ + 1}/{args.rounds}: fer --help {times['fer --help'][-1]:.2f} s, "
              f"baseline {times[BASELINE][-1]:.2f} s, fer fit --help {times['fer fit --help'][-1]:.2f} s")
    baseline = statistics.median(times[BASELINE])
    rows = []
    for label, values in times.items():
        median = statistics.median(values)
        target = "-" if label in (FLOOR, BASELINE) else ("yes" if median < TARGET_S else "no")
        rows.append([label, median, f"{min(values):.2f}-{max(values):.2f}", f"{baseline / median:.2f}x", target])
    argparse_rows = [r for r in rows if r[0].startswith("fer ") and r[0] != "fer fit --help"]
    slowest = max(argparse_rows, key=lambda r: r[1])
    fit = statistics.median(times["fer fit --help"])
    notes = [f"{args.rounds} rounds, cases alternating; wall time of a fresh process each, output discarded",
             f"slowest argparse help: `{slowest[0]}` {slowest[1]:.2f} s; every one under {TARGET_S} s: "
             f"{'yes' if all(r[4] == 'yes' for r in argparse_rows) else 'no'}",
             f"`fer fit --help` ({fit:.2f} s) builds LightningCLI's parser from the model's and data module's "
             f"signatures, so it imports torch and Lightning by design: "
             f"{'it meets' if fit < TARGET_S else 'it cannot meet'} the {TARGET_S} s target here",
             load_note()]
    return BenchResult(
        name=NAME, title="CLI start-up: `fer --help` vs importing the heavy stack",
        columns=["command", "median s", "spread (min-max) s", "baseline / this", f"< {TARGET_S} s"],
        rows=rows, ratio=baseline / statistics.median(times["fer --help"]),
        ratio_label="eager torch + Lightning + Ray import / `fer --help` wall time", notes=notes,
    )


def _wall(cmd: list[str], label: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        from lightning_fer.errors import UserError

        raise UserError(f"`{label}` exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return seconds
