"""The commands' output paths, claimed before any long computation (one line and exit 2 when unusable).

Folders (``run``, ``simulate``, ``plan``, ``reanalyse``) go through
:func:`occupancy.atomic_output.claim_output_folder` (marker, lock, recovery of interrupted runs); single files
(``annotate``, ``dose-curve``) through :func:`meta.atomic_write.check_output_file`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import click


def warn(text: str, quiet: bool) -> None:
    """``blockade: warning: TEXT`` on stderr unless ``quiet``."""
    if not quiet:
        from meta.cli.group import printable

        click.echo(f"blockade: warning: {printable(text)}", err=True)


@contextlib.contextmanager
def output_folder(out_dir: str | None, command: str, quiet: bool) -> Iterator[object]:
    """Claim ``out_dir`` for ``command`` (yields None when no folder was asked for).

    Use it around the computation *and* the writing, so that a second run into the same folder fails at
    once and a bad path is reported before anything is computed.
    """
    if out_dir is None:
        yield None
        return
    from occupancy.atomic_output import claim_output_folder

    with claim_output_folder(out_dir, command) as out:
        for note in out.notes:
            warn(note, quiet)
        seen = len(out.notes)
        yield out
        for note in out.notes[seen:]:
            warn(note, quiet)


def check_output_file(path: str | None, option: str = "--out", inputs=()) -> None:
    """One-line error unless ``path`` (when given) can be written as a file (checked before computing)."""
    if path is None:
        return
    from meta.atomic_write import check_output_file as check

    check(path, option, inputs=inputs)


def echo_result(result, as_json: bool, written, out_dir: str | None, quiet: bool) -> None:
    """Print ``result`` (``--json``: its ``to_dict()``; else its ``summary()``) on stdout, then the files written
    into ``out_dir`` on stderr unless ``quiet``."""
    import json

    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(result.summary())
    if written and not quiet:
        click.echo(f"wrote {len(written)} files to {out_dir}: {', '.join(written)}", err=True)
