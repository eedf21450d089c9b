"""``python -m meta``: the meta-analysis command line on its own (the same group as ``blockade meta``)."""

from meta.cli import meta_group

if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    meta_group(prog_name="meta")
