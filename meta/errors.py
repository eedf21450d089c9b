"""Exceptions raised by :mod:`meta` for bad input and failed fits.

Every message is one line that names the column, row(s) or argument at fault, so the CLI can print it
as-is and exit with status 2.
"""


class MetaInputError(ValueError):
    """Input data or arguments that cannot be analysed (missing column, bad variance, too few rows...)."""


class ConvergenceError(RuntimeError):
    """The optimiser did not converge; the message carries the optimiser's own report."""


class OmittedRowsWarning(UserWarning):
    """Rows with missing values were left out of a model fit (metafor's ``na.action = "na.omit"``)."""
