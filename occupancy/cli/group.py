"""The ``blockade`` click group and the single place where user errors become exit status 2.

Command modules register themselves on :data:`main`; they only parse arguments, call the library and
write results.  Heavy imports (numpy, pandas, matplotlib) happen inside the commands so that
``blockade --help`` and ``blockade simulate --json`` start quickly.
"""

from __future__ import annotations

import sys

import click

from occupancy import __version__


class UserError(click.ClickException):
    """A bad-input error shown as one line on stderr with exit status 2 and no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"blockade: error: {self.format_message()}", err=True, file=file or sys.stderr)


def _user_error_types() -> tuple[type[BaseException], ...]:
    from meta.errors import ConvergenceError, MetaInputError
    from occupancy.errors import InputError

    return (InputError, MetaInputError, ConvergenceError)


class BlockadeGroup(click.Group):
    """A click group that turns library input errors into :class:`UserError` (exit 2, one line)."""

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: D102 - click API
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # `blockade --bogus`: one line as well
            if isinstance(exc, click.exceptions.NoArgsIsHelpError):
                raise
            raise UserError(f"{' '.join(exc.format_message().split())} (see 'blockade --help')") from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _user_error_types() as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise UserError(message) from None
        except click.UsageError as exc:
            # click's own parse errors (`--n abc`, an unknown option) as one line too, still exit status 2
            if isinstance(exc, click.exceptions.NoArgsIsHelpError):
                raise
            where = exc.ctx.command_path if exc.ctx is not None else "blockade"
            raise UserError(f"{' '.join(exc.format_message().split())} (see '{where} --help')") from None


@click.group(cls=BlockadeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="blockade")
def main() -> None:
    """Opioid-receptor blockade simulator and multilevel meta-analysis for opioid-antagonist research.

    \b
    blockade run                       bundled default: reanalysis of the review + a planning example
    blockade simulate SCENARIO.toml    blockade time course for a naltrexone or naloxone schedule
    blockade plan SCENARIO.toml        study-design planner (timing, washout, power, tablets)
    blockade reanalyse [DATA.csv]      blockade-annotated reanalysis of the naltrexone literature
    blockade meta ...                  metafor-exact meta-analysis tools
    """
