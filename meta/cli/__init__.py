"""Command line of :mod:`meta`: the ``meta`` group with pool, influence, effect-size, bias, power,
study-power and plot.

Importing this package registers every command on :data:`meta_group`.  It runs on its own
(``python -m meta``) and is mounted by other programs (``blockade meta``); it never imports :mod:`occupancy`.
"""

from meta.cli.group import OneLineErrorGroup, UserError, meta_group
from meta.cli import (  # noqa: E402,F401  (imported for their registration side effect)
    bias_commands,
    effect_size_commands,
    influence_commands,
    plot_commands,
    pool_commands,
    power_commands,
)

__all__ = ["OneLineErrorGroup", "UserError", "meta_group"]
