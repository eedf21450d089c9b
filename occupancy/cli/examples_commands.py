"""``blockade examples``: the bundled scenarios and example datasets, written into a folder."""

from __future__ import annotations

import click

from occupancy.cli.group import main


@main.command("examples")
@click.option("--out", "out_dir", default=".", show_default=True, type=click.Path(path_type=str),
              help="Folder to write the files into (created if needed). Existing files with other content are "
                   "never overwritten.")
def examples_command(out_dir: str) -> None:
    """Write the bundled example scenarios and datasets (the files the documentation's commands use) into a folder.

    \b
    Every command that reads a scenario also takes a bundled scenario's name without a path:
      blockade simulate single_dose_50mg
    ABOUT.md in the folder says what each file is and where the data come from.
    """
    from occupancy.bundled import write_examples

    written, unchanged = write_examples(out_dir)
    where = "the current folder" if out_dir in (".", "./") else out_dir
    if written:
        click.echo(f"wrote {len(written)} files to {where}: {', '.join(written)}")
    if unchanged:
        click.echo(f"{len(unchanged)} files were already there with the same content")
