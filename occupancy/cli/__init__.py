"""Command-line interface: ``blockade`` and its subcommands.

Importing this package registers every command module on the :data:`main` group.
"""

from occupancy.cli.group import UserError, main  # noqa: F401
from occupancy.cli import commands  # noqa: F401,E402  (registers subcommands)
