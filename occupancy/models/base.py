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
    #: Between-subject multipliers the model accepts (keyword ``<name>_scale``), in the order
    #: :class:`occupancy.simulation.population.Variability` draws them.
    variability_scales: tuple = ("ed50", "half_life", "absorption")
    #: Parameters that are text or true/false (every other parameter is a number).
    text_parameters: tuple = ()
    flag_parameters: tuple = ("cap",)

    def blockade(self, schedule, times_h, receptor="MOR", *, ed50_scale=1.0, half_life_scale=1.0,
                 absorption_scale=1.0) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def blockade_all(self, schedule, times_h, **scales) -> dict[str, np.ndarray]:
        """Blockade (%) of MOR, KOR and DOR on ``times_h``; keyword scales as in :meth:`blockade`."""
        return {r: self.blockade(schedule, times_h, r, **scales) for r in RECEPTORS}

    def _check_positive(self, *names: str) -> None:
        """Raise :class:`InputError` (``model.<name>: must be > 0``) unless each parameter is finite and > 0."""
        import math

        for name in names:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"model.{name}: must be > 0 (got {value})")

    def parameters(self) -> dict[str, float]:
        """The model's parameters as a plain dict (for reports and JSON)."""
        from dataclasses import fields

        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def time_scale_h(self) -> float:
        """A characteristic decay time in hours (used to choose plotting and search horizons)."""
        return 8.0


class TimeCourseModel(BlockadeModel):
    """A model with a closed-form time course: subclasses implement :meth:`raw_all` (uncapped percent).

    This class adds what the washout and bateman models share: clipping at 0, the optional cap at 100 %
    (``self.cap``), dropping the subject axis for scalar scales, and :meth:`blockade` for one receptor.
    """

    cap: bool = True

    def raw_all(self, schedule, times_h, receptors=RECEPTORS, *, ed50_scale=1.0, half_life_scale=1.0,
                absorption_scale=1.0) -> dict:  # pragma: no cover - abstract
        """Uncapped (super-saturated) blockade (%) per receptor, each of shape ``(n, T)``."""
        raise NotImplementedError

    def blockade_all(self, schedule, times_h, receptors=RECEPTORS, *, ed50_scale=1.0, half_life_scale=1.0,
                     absorption_scale=1.0) -> dict:
        """Blockade (%) of each receptor in ``[0, 100]`` (``[0, ∞)`` uncapped); shape ``(T,)`` or ``(n, T)``."""
        from occupancy.models.kinetics import is_population

        out = self.raw_all(schedule, times_h, receptors, ed50_scale=ed50_scale, half_life_scale=half_life_scale,
                           absorption_scale=absorption_scale)
        pop = is_population(ed50_scale, half_life_scale, absorption_scale)
        for r, v in out.items():
            if self.cap:
                np.minimum(v, 100.0, out=v)
            np.maximum(v, 0.0, out=v)
            out[r] = v if pop else v[0]
        return out

    def blockade(self, schedule, times_h, receptor="MOR", *, ed50_scale=1.0, half_life_scale=1.0,
                 absorption_scale=1.0) -> np.ndarray:
        """Blockade (%) of ``receptor`` at ``times_h`` (h), shape ``(T,)`` or ``(n, T)`` with array scales."""
        receptor = check_receptor(receptor)
        return self.blockade_all(schedule, times_h, (receptor,), ed50_scale=ed50_scale,
                                 half_life_scale=half_life_scale, absorption_scale=absorption_scale)[receptor]
