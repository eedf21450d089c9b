"""Registers the subcommand modules on the ``blockade`` group.

Each module attaches its commands to :data:`occupancy.cli.group.main` (or to the ``meta`` subgroup) at
import time.  They import only click at module level, so ``blockade --help`` stays fast.
"""

from occupancy.cli import (  # noqa: F401  (imported for their registration side effect)
    meta_bias_commands,
    meta_commands,
    meta_effect_size_commands,
    meta_plot_commands,
    meta_pool_commands,
    meta_power_commands,
    plan_commands,
    reanalysis_commands,
    run_commands,
    simulate_commands,
)
