"""Common interface of the blockade models (MOR, KOR and DOR blockade in percent on any time grid)."""

from __future__ import annotations

import numpy as np

from occupancy.errors import InputError

RECEPTORS = ("MOR", "KOR", "DOR")


def check_receptor(receptor: str) -> str:
    """Return the canonical receptor name or raise :class:`InputError`."""
    name = str(receptor).strip().upper()
    if name not in RECEPTORS:
        raise InputError(f"receptor: unknown receptor {receptor!r} (choose MOR, KOR or DOR)")
    return name


def as_times(times_h) -> np.ndarray:
    """Time grid as a 1-D float array (a scalar becomes one point)."""
    t = np.atleast_1d(np.asarray(times_h, dtype=float))
    if t.ndim != 1:
        raise ValueError("times_h must be one-dimensional")
    return t


class BlockadeModel:
    """Mixin with the methods shared by every model; subclasses implement :meth:`blockade`.

    Every model is a frozen dataclass with its parameters as fields and attributes ``drug`` and ``name``.
    ``blockade`` accepts the per-subject multipliers ``ed50_scale``, ``half_life_scale`` and
    ``absorption_scale`` as scalars or ``(n, 1)`` arrays; with arrays the result has shape ``(n, T)``.
    """

    drug: str = ""
    name: str = ""
    receptor_ed50_ratio: dict = {}

    def blockade(self, schedule, times_h, receptor="MOR", *, ed50_scale=1.0, half_life_scale=1.0,
                 absorption_scale=1.0) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def blockade_all(self, schedule, times_h, **scales) -> dict[str, np.ndarray]:
        """Blockade (%) of MOR, KOR and DOR on ``times_h``; keyword scales as in :meth:`blockade`."""
        return {r: self.blockade(schedule, times_h, r, **scales) for r in RECEPTORS}

    def parameters(self) -> dict[str, float]:
        """The model's parameters as a plain dict (for reports and JSON)."""
        from dataclasses import fields

        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def time_scale_h(self) -> float:
        """A characteristic decay time in hours (used to choose plotting and search horizons)."""
        return 8.0
