"""Parse the short quantity strings used on the command line: times, doses, infusions.

Syntax
------
Times (``--assess``, the ``@`` and ``+`` parts of a dose) are a number followed by a unit:
``s``, ``min``, ``h``, ``d`` or ``w`` (also ``sec``, ``m``, ``hr``, ``hours``, ``days`` ...).  A bare ``0``
is accepted; any other bare number is refused because hours and minutes are both common.

Doses are ``AMOUNT UNIT @ TIME [+ DURATION]`` without spaces, for example::

    50mg@0h                 50 mg oral naltrexone at time 0
    25mg@1d                 25 mg one day later
    0.01mg/kg@0h            naloxone bolus per kilogram of body weight
    400ug@0h                0.4 mg bolus (ug, µg and mcg are the same)
    0.4mg@0h+30min          0.4 mg in total, infused over 30 minutes
    0.1mg/kg/h@0h+60min     infusion at 0.1 mg/kg per hour for 60 minutes (0.1 mg/kg in total)
    0.002mg/min@1h+2h       infusion at 2 µg per minute for 2 hours (0.24 mg in total)

Amount units: ``mg``, ``g``, ``ug`` (``µg``, ``mcg``), each optionally ``/kg``; rate units add ``/min`` or
``/h``.  A rate needs a duration (``+...``).  Every parse error is an
:class:`~occupancy.errors.InputError` whose message names the offending text.
"""

from __future__ import annotations

import math
import re

from occupancy.errors import InputError

_TIME_UNITS_H = {
    "s": 1.0 / 3600.0,
    "sec": 1.0 / 3600.0,
    "second": 1.0 / 3600.0,
    "seconds": 1.0 / 3600.0,
    "m": 1.0 / 60.0,
    "min": 1.0 / 60.0,
    "mins": 1.0 / 60.0,
    "minute": 1.0 / 60.0,
    "minutes": 1.0 / 60.0,
    "h": 1.0,
    "hr": 1.0,
    "hrs": 1.0,
    "hour": 1.0,
    "hours": 1.0,
    "d": 24.0,
    "day": 24.0,
    "days": 24.0,
    "w": 168.0,
    "wk": 168.0,
    "week": 168.0,
    "weeks": 168.0,
}

_MASS_UNITS_MG = {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "µg": 1e-3, "μg": 1e-3, "mcg": 1e-3}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_TIME_RE = re.compile(rf"^\s*({_NUMBER})\s*([a-zA-Z]*)\s*$")
_DOSE_RE = re.compile(
    rf"^\s*(?P<amount>{_NUMBER})\s*(?P<unit>[a-zA-Zµμ/]+)\s*@\s*(?P<time>[^+]+?)\s*(?:\+\s*(?P<dur>.+?))?\s*$"
)


def parse_time_h(text: str, *, what: str = "time") -> float:
    """Parse a time such as ``"2h"``, ``"90min"`` or ``"15d"`` and return hours.

    Parameters
    ----------
    text : str
        Number plus unit (``s``, ``min``, ``h``, ``d``, ``w``); a bare ``0`` is allowed.
    what : str
        Name used in the error message (for example ``"--assess"``).

    Returns
    -------
    float
        The time in hours (may be negative only if the text is negative; callers check signs).
    """
    match = _TIME_RE.match(str(text))
    if not match:
        raise InputError(f"{what}: cannot read {text!r} as a time (use e.g. 2h, 90min, 15d)")
    value = float(match.group(1))
    unit = match.group(2).lower()
    if not math.isfinite(value):
        raise InputError(f"{what}: {text!r} is not a finite number")
    if not unit:
        if value == 0.0:
            return 0.0
        raise InputError(f"{what}: {text!r} has no unit (use e.g. {text}h or {text}min)")
    if unit not in _TIME_UNITS_H:
        raise InputError(f"{what}: unknown time unit {unit!r} in {text!r} (use s, min, h, d or w)")
    return value * _TIME_UNITS_H[unit]


def parse_times_h(text: str, *, what: str = "--assess") -> list[float]:
    """Parse a comma-separated list of times (``"2h,49h,15d"``) into hours."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise InputError(f"{what}: no times given")
    return [parse_time_h(p, what=what) for p in parts]


def _parse_unit(unit: str, text: str, what: str) -> tuple[float, bool, float | None]:
    """Return (mg factor, per_kg, per_hour factor or None) for a dose unit like ``mg/kg/h``."""
    pieces = unit.split("/")
    mass = pieces[0]
    mass_key = mass if mass in _MASS_UNITS_MG else mass.lower()
    if mass_key not in _MASS_UNITS_MG:
        raise InputError(f"{what}: unknown amount unit {mass!r} in {text!r} (use mg, g, ug)")
    per_kg = False
    per_h: float | None = None
    for piece in pieces[1:]:
        low = piece.lower()
        if low == "kg" and not per_kg and per_h is None:
            per_kg = True
        elif low in ("h", "hr", "hour", "min", "minute") and per_h is None:
            per_h = 1.0 if low in ("h", "hr", "hour") else 60.0
        else:
            raise InputError(f"{what}: cannot read unit {unit!r} in {text!r} (e.g. mg, mg/kg, mg/kg/h, mg/min)")
    return _MASS_UNITS_MG[mass_key], per_kg, per_h


def parse_dose(text: str, *, what: str = "--dose"):
    """Parse one dose string into a :class:`occupancy.dosing.schedule.Dose`.

    Parameters
    ----------
    text : str
        ``AMOUNT UNIT @ TIME [+ DURATION]``; see the module docstring for examples.
    what : str
        Name used in error messages.

    Returns
    -------
    occupancy.dosing.schedule.Dose
        A bolus (``duration_min == 0``) or an infusion whose amount is the total infused.
    """
    from occupancy.dosing.schedule import Dose

    match = _DOSE_RE.match(str(text))
    if not match:
        raise InputError(
            f"{what}: cannot read {text!r} as a dose (use e.g. 50mg@0h, 0.01mg/kg@0h, 0.1mg/kg/h@0h+60min)"
        )
    amount = float(match.group("amount"))
    if not math.isfinite(amount) or amount <= 0:
        raise InputError(f"{what}: dose amount must be > 0 (got {match.group('amount')} in {text!r})")
    factor, per_kg, per_h = _parse_unit(match.group("unit"), text, what)
    time_h = parse_time_h(match.group("time"), what=what)
    duration_min = 0.0
    if match.group("dur") is not None:
        duration_min = parse_time_h(match.group("dur"), what=what) * 60.0
        if duration_min <= 0:
            raise InputError(f"{what}: infusion duration must be > 0 (got {match.group('dur')!r} in {text!r})")
    if per_h is not None:
        if duration_min <= 0:
            raise InputError(f"{what}: a rate needs a duration, e.g. {text}+60min")
        total = amount * factor * per_h * duration_min / 60.0
    else:
        total = amount * factor
    if per_kg:
        return Dose(time_h=time_h, amount_mg_per_kg=total, duration_min=duration_min)
    return Dose(time_h=time_h, amount_mg=total, duration_min=duration_min)


def format_time_h(hours: float) -> str:
    """Format hours compactly for labels: ``"90min"``, ``"2h"``, ``"15d"``."""
    if hours != 0 and abs(hours) < 1:
        return f"{hours * 60:g}min"
    if abs(hours) >= 48 and abs(hours / 24 - round(hours / 24)) < 1e-9:
        return f"{hours / 24:g}d"
    return f"{hours:g}h"
