"""Dosing schedules: bolus doses and zero-order infusions on one time axis in hours.

A :class:`Dose` is given either in mg or in mg/kg (never both).  An infusion has ``duration_min > 0`` and
its amount is the *total* amount infused over the duration (this is how planoxone converts its rate units:
rate × duration).  A :class:`Schedule` is an immutable, time-ordered tuple of doses plus an optional body
weight that converts between mg and mg/kg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from occupancy.errors import InputError

#: Routes a dose may name (``None``: the drug's usual route).
ROUTES = ("iv", "intranasal", "intramuscular")
#: Routes with first-order absorption (a bolus into a depot; never an infusion).
ABSORBED_ROUTES = ("intranasal", "intramuscular")


@dataclass(frozen=True)
class Dose:
    """One administration.

    Parameters
    ----------
    time_h : float
        Start of the administration in hours (any origin; usually the first dose is 0).
    amount_mg : float, optional
        Total amount in mg.
    amount_mg_per_kg : float, optional
        Total amount in mg per kg body weight (exactly one of the two amounts is given).
    duration_min : float
        Infusion duration in minutes; 0 for a bolus or an oral tablet.
    route : str, optional
        ``None`` (the drug's usual route: oral naltrexone, IV naloxone), ``"iv"``, ``"intranasal"`` or
        ``"intramuscular"`` (naloxone with the ``pkpd`` model; see :data:`ROUTES`).

    Notes
    -----
    The route is part of the dose because one schedule may mix routes (an IV bolus with an intramuscular
    depot, Dowling 2008); each route has its own absorption (``pkpd_naloxone.ROUTES``).
    """

    time_h: float
    amount_mg: float | None = None
    amount_mg_per_kg: float | None = None
    duration_min: float = 0.0
    route: str | None = None

    def __post_init__(self) -> None:
        if (self.amount_mg is None) == (self.amount_mg_per_kg is None):
            raise InputError("dose: give exactly one of amount_mg and amount_mg_per_kg")
        amount = self.amount_mg if self.amount_mg is not None else self.amount_mg_per_kg
        if not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount <= 0:
            raise InputError(f"dose: amount must be > 0 (got {amount})")
        if not math.isfinite(self.time_h):
            raise InputError(f"dose: time_h must be finite (got {self.time_h})")
        if not math.isfinite(self.duration_min) or self.duration_min < 0:
            raise InputError(f"dose: duration_min must be >= 0 (got {self.duration_min})")
        if self.route is not None and self.route not in ROUTES:
            raise InputError(f"dose: route must be one of {', '.join(ROUTES)} (got {self.route!r})")
        if self.route in ABSORBED_ROUTES and self.duration_min > 0:
            raise InputError(f"dose: an {self.route} dose cannot be an infusion (duration_min must be 0)")

    @classmethod
    def from_rate(
        cls,
        time_h: float,
        duration_min: float,
        *,
        rate_mg_per_h: float | None = None,
        rate_mg_per_kg_per_h: float | None = None,
    ) -> "Dose":
        """An infusion given by its rate (per hour) and duration; the amount is rate × duration."""
        if duration_min <= 0:
            raise InputError("dose: an infusion rate needs duration_min > 0")
        if rate_mg_per_h is not None:
            return cls(time_h=time_h, amount_mg=rate_mg_per_h * duration_min / 60.0, duration_min=duration_min)
        if rate_mg_per_kg_per_h is not None:
            return cls(
                time_h=time_h, amount_mg_per_kg=rate_mg_per_kg_per_h * duration_min / 60.0, duration_min=duration_min
            )
        raise InputError("dose: give rate_mg_per_h or rate_mg_per_kg_per_h")

    @property
    def is_infusion(self) -> bool:
        """True when the dose is a zero-order infusion (``duration_min > 0``)."""
        return self.duration_min > 0

    @property
    def end_h(self) -> float:
        """End of the administration in hours (equal to ``time_h`` for a bolus)."""
        return self.time_h + self.duration_min / 60.0

    def mg(self, weight_kg: float | None) -> float:
        """Total amount in mg (needs ``weight_kg`` for a per-kg dose)."""
        if self.amount_mg is not None:
            return float(self.amount_mg)
        if weight_kg is None:
            raise InputError("dose given in mg/kg needs a body weight (subject.weight_kg / --weight)")
        return float(self.amount_mg_per_kg) * float(weight_kg)

    def mg_per_kg(self, weight_kg: float | None) -> float:
        """Total amount in mg/kg (needs ``weight_kg`` for a dose in mg)."""
        if self.amount_mg_per_kg is not None:
            return float(self.amount_mg_per_kg)
        if weight_kg is None:
            raise InputError("dose given in mg needs a body weight to convert to mg/kg (subject.weight_kg / --weight)")
        return float(self.amount_mg) / float(weight_kg)

    def shifted(self, dt_h: float) -> "Dose":
        """The same dose ``dt_h`` hours later."""
        return replace(self, time_h=self.time_h + dt_h)

    def label(self) -> str:
        """Short human-readable form, e.g. ``50 mg @ 0 h``."""
        amount = f"{self.amount_mg:g} mg" if self.amount_mg is not None else f"{self.amount_mg_per_kg:g} mg/kg"
        text = f"{amount} @ {self.time_h:g} h"
        if self.is_infusion:
            text += f" over {self.duration_min:g} min"
        if self.route is not None:
            text += f" {self.route}"
        return text


@dataclass(frozen=True)
class Schedule:
    """An ordered set of doses for one subject.

    Parameters
    ----------
    doses : tuple of Dose
        Sorted by start time on construction; must not be empty.
    weight_kg : float, optional
        Body weight, needed to convert mg ↔ mg/kg.
    """

    doses: tuple[Dose, ...] = field(default_factory=tuple)
    weight_kg: float | None = None

    def __post_init__(self) -> None:
        doses = tuple(sorted(tuple(self.doses), key=lambda d: d.time_h))
        if not doses:
            raise InputError("schedule: at least one dose is needed")
        object.__setattr__(self, "doses", doses)
        if self.weight_kg is not None and (not math.isfinite(self.weight_kg) or self.weight_kg <= 0):
            raise InputError(f"subject.weight_kg: must be > 0 (got {self.weight_kg})")

    @classmethod
    def daily(
        cls,
        amounts_mg: Sequence[float],
        start_h: float = 0.0,
        interval_h: float = 24.0,
        weight_kg: float | None = None,
    ) -> "Schedule":
        """Doses every ``interval_h`` hours, e.g. the Inagaki titration ``Schedule.daily([25, 25, 50, 50])``."""
        return cls(
            tuple(Dose(time_h=start_h + i * interval_h, amount_mg=float(a)) for i, a in enumerate(amounts_mg)),
            weight_kg=weight_kg,
        )

    @classmethod
    def single(cls, amount_mg: float, time_h: float = 0.0) -> "Schedule":
        """One oral dose in mg."""
        return cls((Dose(time_h=time_h, amount_mg=float(amount_mg)),))

    def shifted(self, dt_h: float) -> "Schedule":
        """The same schedule ``dt_h`` hours later."""
        return replace(self, doses=tuple(d.shifted(dt_h) for d in self.doses))

    def plus(self, doses: Iterable[Dose]) -> "Schedule":
        """A schedule with extra doses added."""
        return replace(self, doses=self.doses + tuple(doses))

    @property
    def first_dose_h(self) -> float:
        """Start of the first dose (h)."""
        return self.doses[0].time_h

    @property
    def last_dose_h(self) -> float:
        """Start of the last dose (h)."""
        return max(d.time_h for d in self.doses)

    @property
    def last_dose_end_h(self) -> float:
        """End of the last administration, counting infusion durations (h)."""
        return max(d.end_h for d in self.doses)

    def total_mg(self) -> float:
        """Total amount given in mg (per-kg doses need ``weight_kg``)."""
        return float(sum(d.mg(self.weight_kg) for d in self.doses))

    def amounts_mg(self) -> list[float]:
        """Each dose in mg."""
        return [d.mg(self.weight_kg) for d in self.doses]

    def amounts_mg_per_kg(self) -> list[float]:
        """Each dose in mg/kg."""
        return [d.mg_per_kg(self.weight_kg) for d in self.doses]

    def describe(self) -> str:
        """One line listing the doses."""
        return "; ".join(d.label() for d in self.doses)
