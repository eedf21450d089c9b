"""Package-level names resolved on first use (PEP 562), so importing a package stays cheap.

Both :mod:`meta` and :mod:`occupancy` export their public API this way: ``import meta`` loads neither
numpy nor pandas until a name such as ``fit_multilevel`` is actually used.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, api: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` that import ``api[name]`` on first access.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    api : dict
        Public name → the module that defines it.

    Notes
    -----
    The resolved object is stored in the package namespace, so later look-ups are ordinary attribute
    access; an unknown name raises :class:`AttributeError` as usual.
    """

    def __getattr__(name: str):
        module = api.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(["__version__", *api])

    return __getattr__, __dir__
