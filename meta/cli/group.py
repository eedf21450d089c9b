"""The ``meta`` click group and the single place where its users' errors become one line and exit status 2.

The group runs on its own (``python -m meta pool ...``) or mounted under another command
(``blockade meta pool ...``): error lines are prefixed with the name of the outermost command, so the same
code says ``blockade: error: ...`` in one and ``meta: error: ...`` in the other.  Command modules import
only click at module level; numpy, pandas and matplotlib are imported inside the commands.
"""

from __future__ import annotations

import os
import re
import sys

import click

#: Largest SOURCE_DATE_EPOCH accepted (9999-12-31 23:59:59 UTC; later dates overflow date handling).
MAX_SOURCE_DATE_EPOCH = 253402300799


def printable(text) -> str:
    """``text`` with control and other non-printable characters escaped (``\\x1b``, ``\\u202e``).

    Error and warning lines quote users' data (CSV headers, file names); a raw escape sequence there would
    reach the terminal and could rewrite what the user sees.
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def one_line(text) -> str:
    """``text`` on one line (runs of whitespace collapsed) with non-printable characters escaped."""
    return printable(" ".join(str(text).split()))


def check_source_date_epoch() -> None:
    """Refuse a ``SOURCE_DATE_EPOCH`` that is not a whole number of seconds from 1970 to the year 9999.

    Notes
    -----
    Reproducible builds set it; matplotlib reads it with ``int()`` while writing PDF/PS/SVG fonts, so garbage
    or an overflowing value ended in a traceback after the whole computation.  Checked before any command
    runs (one line, exit 2, nothing written).
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None or epoch == "":
        return
    if not re.fullmatch(r"\s*\d{1,12}\s*", epoch) or int(epoch) > MAX_SOURCE_DATE_EPOCH:
        raise click.ClickException(f"SOURCE_DATE_EPOCH={printable(epoch[:40])!r}: must be a whole number of "
                                   f"seconds since 1970-01-01 UTC (0 to {MAX_SOURCE_DATE_EPOCH}); fix or unset it")


class Interrupted(click.ClickException):
    """Ctrl-C: one line on stderr, exit status 130 (128 + SIGINT), outputs left as they were."""

    exit_code = 130
    prog = "meta"

    def show(self, file=None) -> None:  # noqa: D102 - click API
        # a newline first: Ctrl-C may land in the middle of a progress bar's line (or after the terminal's "^C")
        click.echo(f"\n{self.prog}: interrupted: {one_line(self.format_message())}", err=True,
                   file=file or sys.stderr)


class UserError(click.ClickException):
    """A bad-input error shown as one line on stderr with exit status 2 and no traceback."""

    exit_code = 2
    prog = "meta"

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"{self.prog}: error: {one_line(self.format_message())}", err=True, file=file or sys.stderr)


def _root_prog(ctx: click.Context | None) -> str:
    """Name used in error lines: the outermost group's ``error_prog`` (``blockade`` when mounted there)."""
    if ctx is None:
        return UserError.prog
    return getattr(ctx.find_root().command, "error_prog", None) or UserError.prog


def warn(message: str) -> None:
    """Print ``message`` as one ``<prog>: warning: ...`` line on stderr (``blockade`` or ``meta``)."""
    prog = _root_prog(click.get_current_context(silent=True))
    click.echo(f"{prog}: warning: {one_line(message)}", err=True)


class collected_warnings:
    """Record the library's warnings (e.g. rows omitted for missing values) instead of printing them.

    Use as ``with collected_warnings() as caught: ...`` and call :meth:`emit` once the command has succeeded,
    so a run that ends in an error prints only the error line.  Repeated messages are shown once.
    """

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self.records = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

    def emit(self) -> None:
        quiet = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning, ResourceWarning)
        shown = [str(r.message) for r in self.records if not issubclass(r.category, quiet)]
        for message in dict.fromkeys(shown):
            warn(message)


class OneLineErrorGroup(click.Group):
    """A click group that turns library input errors and click's parse errors into :class:`UserError`.

    Subclasses extend :meth:`user_error_types` with their own libraries' input errors and set
    :attr:`error_prog`, the name shown before ``: error:``.
    """

    error_prog = "meta"

    def user_error_types(self) -> tuple[type[BaseException], ...]:
        """Exceptions whose message is shown to the user as one line (exit 2)."""
        from meta.errors import ConvergenceError, MetaInputError

        return (MetaInputError, ConvergenceError)

    @staticmethod
    def _route_warnings(ctx: click.Context) -> None:
        """Library warnings (matplotlib, numpy, ...) as one ``PROG: warning: ...`` line without source paths;
        none at all when the command line asks for ``--quiet``.  Call inside ``warnings.catch_warnings()``."""
        import warnings

        args = [*vars(ctx).get("_protected_args", []), *ctx.args]
        if "--quiet" in args:
            warnings.simplefilter("ignore")
            return
        prog = _root_prog(ctx)
        shown = set()

        def show(message, category, filename, lineno, file=None, line=None):
            text = one_line(message)
            if text not in shown:  # e.g. one missing glyph reported once, not once per figure format
                shown.add(text)
                click.echo(f"{prog}: warning: {text}", err=True)

        warnings.showwarning = show

    def _user_error(self, message: str, ctx: click.Context | None) -> UserError:
        error = UserError(message)
        error.prog = _root_prog(ctx)
        return error

    def resolve_command(self, ctx: click.Context, args):  # noqa: D102 - click API
        """As click's, with a did-you-mean suggestion (difflib) for a misspelt command name."""
        import difflib

        name = click.utils.make_str(args[0]) if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.6)
            if close:
                ctx.fail(f"No such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: D102 - click API
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # `blockade --bogus`: one line as well
            if isinstance(exc, click.exceptions.NoArgsIsHelpError):
                raise
            prog = _root_prog(parent) if parent is not None else self.error_prog
            error = UserError(f"{' '.join(exc.format_message().split())} (see '{prog} --help')")
            error.prog = prog
            raise error from None

    def invoke(self, ctx: click.Context):  # noqa: D102 - click API
        import warnings

        try:
            with warnings.catch_warnings():
                self._route_warnings(ctx)
                if ctx.parent is None:
                    try:
                        check_source_date_epoch()
                    except click.ClickException as exc:
                        raise self._user_error(exc.format_message(), ctx) from None
                return super().invoke(ctx)
        except UserError as exc:
            exc.prog = _root_prog(ctx)
            raise
        except self.user_error_types() as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise self._user_error(message, ctx) from None
        except RecursionError:
            raise self._user_error("input nested too deeply to read (a file with thousands of nested brackets "
                                   "or tables?); flatten it", ctx) from None
        except KeyboardInterrupt:
            error = Interrupted("stopped by Ctrl-C; no output was written or replaced")
            error.prog = _root_prog(ctx)
            raise error from None
        except MemoryError:
            raise self._user_error("out of memory: this input needs more memory than is available; make it "
                                   "smaller (fewer rows, virtual subjects, draws or grid points)", ctx) from None
        except OSError as exc:  # a file that cannot be read or written (full disk, permissions, ...)
            import errno

            if exc.errno == errno.EPIPE:
                raise
            where = exc.filename if exc.filename is not None else "file system"
            raise self._user_error(f"{where}: {exc.strerror or exc}", ctx) from None
        except click.UsageError as exc:
            # click's own parse errors (`--n abc`, an unknown option) as one line too, still exit status 2
            if isinstance(exc, click.exceptions.NoArgsIsHelpError):
                raise
            where = exc.ctx.command_path if exc.ctx is not None else _root_prog(ctx)
            raise self._user_error(f"{' '.join(exc.format_message().split())} (see '{where} --help')",
                                   ctx) from None


def exit_codes(prog: str) -> tuple[tuple[int, str], ...]:
    """The exit statuses of ``prog`` (``blockade`` or ``meta``); docs/reference/exit-codes.md lists the same."""
    return (
        (0, "success (also --help and --version)"),
        (1, f"internal error: a bug in {prog} (with a traceback); please report it"),
        (2, "bad input or usage: one line on stderr names the file, field, row or option; nothing is written"),
        (Interrupted.exit_code, "interrupted by Ctrl-C; no output is written or replaced"),
    )


def exit_codes_epilog(prog: str) -> str:
    """The exit-code table as a ``--help`` epilog (click keeps the lines after ``\\b`` as they are)."""
    return "\b\nExit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in exit_codes(prog))


@click.group("meta", cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=exit_codes_epilog("meta"))
def meta_group() -> None:
    """Meta-analysis tools that agree with metafor 3.8 (pool, effect sizes, bias, power, plots)."""
