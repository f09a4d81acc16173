"""Benchmarks, one module per pipeline stage, each measuring the stage against a baseline in one run.

A bench module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> BenchResult``;
`fer bench NAME` discovers it and writes the result into docs/BENCHMARKS.md (see record.py). Bench modules
import their heavy libraries inside ``run`` so that `fer bench --help` stays fast.
"""

HELPER_MODULES = ("device", "record", "step_timer")  # modules of this package that are not benchmarks
