"""Exceptions for bad user input in :mod:`occupancy`.

The message of an :class:`InputError` is a single line naming the file, field or row and what is wrong;
the CLI prints it to stderr and exits with status 2 without a traceback.
"""


class InputError(ValueError):
    """A scenario, data file or command-line value that cannot be used."""
