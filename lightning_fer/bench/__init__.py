"""Benchmarks, one module per pipeline stage, each measuring the stage against a baseline in one run.

A bench module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> BenchResult``;
`fer bench NAME` discovers it and writes the result into docs/BENCHMARKS.md (see record.py).
"""
