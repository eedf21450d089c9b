"""The package version, in a module of its own so every floor can read it without importing the public API.

The number itself is kept once, in :mod:`meta.version` (``meta`` never imports ``occupancy``, so the one copy
lives on the floor both packages share).
"""

from meta.version import __version__

__all__ = ["__version__"]
