"""Exceptions that `fer` reports as one clear line instead of a traceback."""


class UserError(Exception):
    """Bad input from the user (paths, arguments, configs, data): printed as one line, exit code 2."""
