"""Command-line interface (floor 6): ``blockade`` and its subcommands.

Importing this package registers every command module on :data:`main` and mounts the :mod:`meta`
library's own command group as ``blockade meta``.  The commands parse, call library functions and write;
they hold no science.
"""

from meta.cli import meta_group
from occupancy.cli.group import UserError, main
from occupancy.cli import (  # noqa: E402,F401  (imported for their registration side effect)
    app_commands,
    calibrate_commands,
    examples_commands,
    explore_commands,
    plan_commands,
    reanalyse_commands,
    run_commands,
    simulate_commands,
)

main.add_command(meta_group)

__all__ = ["UserError", "main"]
