"""The version of the distribution (``opioid-blockade``), in its one place.

``meta`` is the lowest floor both packages stand on, so ``occupancy.version`` reads it from here and
pyproject.toml's ``[tool.setuptools.dynamic]`` takes the distribution's version from here too.
"""

__version__ = "0.1.0"
