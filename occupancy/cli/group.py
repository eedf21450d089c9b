"""The ``blockade`` click group: one line and exit status 2 for every user error, no traceback.

Command modules register themselves on :data:`main`; they only parse arguments, call the library and
write results.  Heavy imports (numpy, pandas, matplotlib) happen inside the commands so that
``blockade --help`` and ``blockade simulate --json`` start quickly.  The error handling itself is
:class:`meta.cli.group.OneLineErrorGroup`, extended here with :class:`occupancy.errors.InputError`.
"""

from __future__ import annotations

import click

from meta.cli.group import OneLineErrorGroup, UserError, exit_codes, exit_codes_epilog
from occupancy.version import __version__

__all__ = ["BlockadeGroup", "UserError", "main"]


class BlockadeGroup(OneLineErrorGroup):
    """The ``blockade`` group: pharmacology input errors are user errors too; lines start ``blockade:``."""

    error_prog = "blockade"

    def user_error_types(self) -> tuple[type[BaseException], ...]:  # noqa: D102
        from occupancy.errors import InputError

        return super().user_error_types() + (InputError,)


#: The exit-code table at the end of ``blockade --help``; docs/reference/exit-codes.md says the same (a test checks).
EXIT_CODES = exit_codes("blockade")

_EPILOG = exit_codes_epilog("blockade")


@click.group(cls=BlockadeGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EPILOG)
@click.version_option(__version__, prog_name="blockade")
def main() -> None:
    """Opioid-receptor blockade simulator and multilevel meta-analysis for opioid-antagonist research.

    \b
    blockade run                       bundled default: reanalysis of the review + a planning example
    blockade simulate SCENARIO.toml    blockade time course for a naltrexone or naloxone schedule
    blockade plan SCENARIO.toml        study-design planner (timing, washout, power, tablets)
    blockade explore SCENARIO.toml     design search under model uncertainty (local or Dask cluster)
    blockade reanalyse [DATA.csv]      blockade-annotated reanalysis of the naltrexone literature
    blockade meta ...                  metafor-exact meta-analysis tools
    blockade app                       the same as a web page (pip install ".[app]")
    """
