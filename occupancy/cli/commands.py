"""Registers the subcommand modules on the ``blockade`` group.

Each module below attaches its commands to :data:`occupancy.cli.group.main` at import time; a module
that has not been written yet is simply absent from this list.
"""

import importlib

_COMMAND_MODULES = [
    "occupancy.cli.simulate_commands",
    "occupancy.cli.meta_commands",
    "occupancy.cli.meta_pool_commands",
    "occupancy.cli.meta_effect_size_commands",
    "occupancy.cli.meta_bias_commands",
    "occupancy.cli.meta_power_commands",
    "occupancy.cli.meta_plot_commands",
    "occupancy.cli.reanalysis_commands",
    "occupancy.cli.plan_commands",
    "occupancy.cli.run_commands",
]

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a command module not yet present in this checkout
        if exc.name != _name:
            raise
