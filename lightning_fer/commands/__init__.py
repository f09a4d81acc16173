"""One module per `fer` subcommand. Each exposes ``register(subparsers)``; cli.py discovers them.

A command module registers a subparser whose ``func`` default takes the parsed namespace and
returns an exit code. Heavy imports belong inside that function so that `fer --help` stays fast.
"""
