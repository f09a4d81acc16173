"""One module per `fer` subcommand; cli.py discovers them.

Each exposes ``HELP`` (its line in `fer --help`) and ``register(subparsers)``, which adds the subparser
(with ``help=HELP``) whose ``func`` default takes the parsed namespace and returns an exit code. Only the
command being run is registered in full. Heavy imports (torch, Lightning, Ray, DALI, OpenCV) belong inside
the functions that run, never at module level or in ``register``: `fer --help` and `fer COMMAND --help`
stay fast (tests/test_cli_startup.py checks that none of them loads).
"""
