"""`fer bench NAME`: run one stage's benchmark (or `all`) and record it in docs/BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from lightning_fer import bench

HELP = "benchmarks: each stage against its baseline, same run"


def _bench_modules() -> dict:
    modules = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name in bench.HELPER_MODULES:
            continue
        module = importlib.import_module(f"{bench.__name__}.{info.name}")
        if hasattr(module, "NAME"):
            modules[module.NAME] = module
    return modules


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help=HELP)
    parser.add_argument("--output", default="docs/BENCHMARKS.md", help="markdown file to update")
    parser.add_argument("--json", default=None, help="also write the result (rows, ratio, notes) to this JSON file")
    names = parser.add_subparsers(dest="bench", metavar="NAME")
    modules = _bench_modules()
    for name, module in sorted(modules.items()):
        sub = names.add_parser(name, help=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(func=_run_one(module))
    everything = names.add_parser("all", help="run every benchmark with its defaults")
    everything.set_defaults(func=lambda args: _run_all(modules, args))


def _run_one(module):
    def run(args: argparse.Namespace) -> int:
        from lightning_fer.bench.record import record

        result = module.run(args)
        print(result.to_markdown())
        print(f"recorded in {record(result, args.output)}")
        if getattr(args, "json", None):
            write_json(result, args.json)
        return 0

    return run


def _run_all(modules: dict, args: argparse.Namespace) -> int:
    for name, module in sorted(modules.items()):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        sub_args = parser.parse_args([])
        sub_args.output = args.output
        print(f"== fer bench {name}")
        _run_one(module)(sub_args)
    return 0


def write_json(result, path: str) -> None:
    """The result as JSON (machine-readable twin of the markdown section), written atomically."""
    import dataclasses
    import json
    from pathlib import Path

    from lightning_fer.atomic_write import write_text

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, json.dumps(dataclasses.asdict(result), indent=1, default=str) + "\n")
