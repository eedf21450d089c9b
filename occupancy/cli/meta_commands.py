"""``blockade meta``: the command group for the statistics in :mod:`meta`.

The subcommands live in their own modules (``meta_pool_commands``, ``meta_effect_size_commands``,
``meta_bias_commands``, ``meta_power_commands``, ``meta_plot_commands``) and attach to :data:`meta_group`.
"""

import click

from occupancy.cli.group import BlockadeGroup, main


@main.group("meta", cls=BlockadeGroup)
def meta_group() -> None:
    """Meta-analysis tools that agree with metafor 3.8 (pool, effect sizes, bias, power, plots)."""
