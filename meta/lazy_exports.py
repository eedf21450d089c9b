"""Package-level names resolved on first use (PEP 562), so importing a package stays cheap.

Both :mod:`meta` and :mod:`occupancy` export their public API this way: ``import meta`` loads neither
numpy nor pandas until a name such as ``fit_multilevel`` is actually used.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, api: dict[str, str], *, renamed: dict[str, tuple[str, str]] | None = None,
                 submodules: tuple[str, ...] = ()) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` that import ``api[name]`` on first access.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    api : dict
        Public name → the module that defines it.
    renamed : dict, optional
        Public name → (module, name in that module), for names exported under another name.
    submodules : tuple of str
        Submodules reachable as attributes (``package.name`` imports ``package.name``).

    Notes
    -----
    The resolved object is stored in the package namespace, so later look-ups are ordinary attribute
    access; an unknown name raises :class:`AttributeError` as usual.
    """

    renamed = renamed or {}

    def __getattr__(name: str):
        if name in api:
            value = getattr(importlib.import_module(api[name]), name)
        elif name in renamed:
            module, attr = renamed[name]
            value = getattr(importlib.import_module(module), attr)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({"__version__", *api, *renamed, *submodules})

    return __getattr__, __dir__
