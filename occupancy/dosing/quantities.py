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

Compound durations and clock times
----------------------------------
A duration may add several number-unit parts: ``1h30min`` (1.5 h), ``7d1.5h`` (169.5 h), ``2d 6h``.

A **clock time** ``HH:MM`` (24-hour clock, ``09:00``, ``21:30``), optionally with a day prefix ``dN``
(``d8 10:30``: day 8, where the first dose's day is day 1), is converted to hours **relative to the first
dose's clock time**: with ``--dose 50mg@09:00 --assess 10:30`` the assessment is at 1.5 h, ``d2 09:00`` is at
24 h.  A clock time without a day prefix is on the first dose's day.  Clock times need the first dose to be
given as a clock time too (there is nothing else to count from), and a clock time before the first dose on
its day is an error (write ``d2 07:00`` for the next morning).  The same texts are accepted in scenario files
(``time_h = "d8 10:30"``, ``isi_days = "7d"``, ``duration_min = "1h30min"``): the scenario's fields share
these parsers (:func:`parse_time_h`, :func:`resolve_clock_times`).

Notes
-----
Why relative to the first dose: every model works on hours since the first dose, and a protocol is written
in clock times; anchoring at the first dose keeps both readings and needs no date.
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
_PART_RE = re.compile(rf"\s*({_NUMBER})\s*([a-zA-Z]+)\s*")
_CLOCK_RE = re.compile(r"^\s*(?:[dD](?P<day>\d+)[\s_T]*)?(?P<hh>\d{1,2}):(?P<mm>\d{2})\s*$")
_DOSE_RE = re.compile(
    rf"^\s*(?P<amount>{_NUMBER})\s*(?P<unit>[a-zA-Zµμ/]+)\s*@\s*(?P<time>[^+]+?)\s*(?:\+\s*(?P<dur>.+?))?\s*$"
)


def is_clock_time(text) -> bool:
    """True for a clock time such as ``"09:00"`` or ``"d8 10:30"`` (see the module docstring)."""
    return isinstance(text, str) and _CLOCK_RE.match(text) is not None


def parse_clock(text: str, *, what: str = "time") -> tuple[int, float]:
    """``(day, clock hour)`` of a clock time: ``"d8 10:30"`` → ``(8, 10.5)``, ``"09:00"`` → ``(1, 9.0)``."""
    match = _CLOCK_RE.match(str(text))
    if not match:
        raise InputError(f"{what}: cannot read {text!r} as a clock time (use e.g. 09:00 or d8 10:30)")
    day = int(match.group("day")) if match.group("day") is not None else 1
    hh, mm = int(match.group("hh")), int(match.group("mm"))
    if day < 1:
        raise InputError(f"{what}: day {day} in {text!r}: days count from d1 (the first dose's day)")
    if hh > 24 or mm > 59 or (hh == 24 and mm > 0):
        raise InputError(f"{what}: {text!r} is not a clock time (hours 0-24, minutes 0-59)")
    return day, hh + mm / 60.0


def clock_to_h(text: str, origin: tuple[int, float], *, what: str = "time") -> float:
    """Hours from the first dose (at clock time ``origin`` = ``(day, clock hour)``) to the clock time ``text``."""
    day, clock = parse_clock(text, what=what)
    hours = (day - origin[0]) * 24.0 + clock - origin[1]
    if hours < 0:
        raise InputError(f"{what}: {text!r} is before the first dose (clock times count from the first dose's "
                         "clock time; write e.g. d2 07:00 for the next morning)")
    return hours


def _duration_h(text: str, what: str) -> float:
    """A single ``2h`` or a compound ``1h30min`` / ``7d1.5h`` duration in hours."""
    match = _TIME_RE.match(text)
    if match:
        value = float(match.group(1))
        unit = match.group(2).lower()
        if not math.isfinite(value):
            raise InputError(f"{what}: {text!r} is not a finite number")
        if not unit:
            if value == 0.0:
                return 0.0
            raise InputError(f"{what}: {text!r} has no unit (use e.g. {text.strip()}h or {text.strip()}min)")
        if unit not in _TIME_UNITS_H:
            raise InputError(f"{what}: unknown time unit {unit!r} in {text!r} (use s, min, h, d or w)")
        return value * _TIME_UNITS_H[unit]
    pos, total, parts = 0, 0.0, 0
    stripped = text.strip()
    while pos < len(stripped):
        part = _PART_RE.match(stripped, pos)
        if part is None:
            break
        number, unit = part.group(1), part.group(2).lower()
        if parts and number.startswith(("+", "-")):
            break
        if unit not in _TIME_UNITS_H:
            raise InputError(f"{what}: unknown time unit {unit!r} in {text!r} (use s, min, h, d or w)")
        total += float(number) * _TIME_UNITS_H[unit]
        parts += 1
        pos = part.end()
    if parts < 2 or pos != len(stripped) or not math.isfinite(total):
        raise InputError(f"{what}: cannot read {text!r} as a time (use e.g. 2h, 90min, 1h30min, 15d; a clock "
                         "time as 09:00 or d8 10:30)")
    return total


def parse_time_h(text: str, *, what: str = "time", clock_origin: tuple[int, float] | None = None) -> float:
    """Parse a time such as ``"2h"``, ``"90min"``, ``"1h30min"`` or ``"7d1.5h"`` and return hours.

    Parameters
    ----------
    text : str
        Number plus unit (``s``, ``min``, ``h``, ``d``, ``w``), several of them added up (``1h30min``), or a
        clock time (``10:30``, ``d8 10:30``) when ``clock_origin`` is given; a bare ``0`` is allowed.
    what : str
        Name used in the error message (for example ``"--assess"``).
    clock_origin : (day, clock hour), optional
        The first dose's clock time; clock times are counted from it (module docstring).  Without it a clock
        time is an error that says why.

    Returns
    -------
    float
        The time in hours (may be negative only if the text is negative; callers check signs).
    """
    text = str(text)
    if is_clock_time(text):
        if clock_origin is None:
            raise InputError(f"{what}: the clock time {text!r} needs the first dose at a clock time too "
                             "(e.g. 50mg@09:00); clock times count from the first dose's clock time")
        return clock_to_h(text, clock_origin, what=what)
    return _duration_h(text, what)


def parse_times_h(text: str, *, what: str = "--assess",
                  clock_origin: tuple[int, float] | None = None) -> list[float]:
    """Parse a comma-separated list of times (``"2h,49h,15d"``, ``"10:30,d2 09:00"``) into hours."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise InputError(f"{what}: no times given")
    return [parse_time_h(p, what=what, clock_origin=clock_origin) for p in parts]


def dose_clock(text: str) -> tuple[int, float] | None:
    """The ``(day, clock hour)`` of a dose string given at a clock time (``50mg@09:00``), else None."""
    match = _DOSE_RE.match(str(text))
    if match and is_clock_time(match.group("time")):
        return parse_clock(match.group("time"))
    return None


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


def parse_dose(text: str, *, what: str = "--dose", clock_origin: tuple[int, float] | None = None):
    """Parse one dose string into a :class:`occupancy.dosing.schedule.Dose`.

    Parameters
    ----------
    text : str
        ``AMOUNT UNIT @ TIME [+ DURATION]``; see the module docstring for examples.
    what : str
        Name used in error messages.
    clock_origin : (day, clock hour), optional
        The first dose's clock time, for a dose at a clock time (``25mg@d2 09:00``).

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
    time_h = parse_time_h(match.group("time"), what=what, clock_origin=clock_origin)
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


_MASS_RE = re.compile(rf"^\s*({_NUMBER})\s*([a-zA-Zµμ]+)\s*$")


def parse_mass_mg(text: str, *, what: str = "amount") -> float:
    """A mass with its unit (``"50mg"``, ``"400ug"``, ``"0.4 g"``; ``µg`` and ``mcg`` are ``ug``) in mg.

    The amount units of :func:`parse_dose`, for scenario fields such as ``amount_mg = "400ug"``.
    """
    match = _MASS_RE.match(str(text))
    unit = match.group(2) if match else ""
    key = unit if unit in _MASS_UNITS_MG else unit.lower()
    if not match or key not in _MASS_UNITS_MG:
        raise InputError(f"{what}: cannot read {text!r} as an amount (use e.g. 50mg, 400ug, 0.4g)")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise InputError(f"{what}: {text!r} is not a finite number")
    return value * _MASS_UNITS_MG[key]


def format_time_h(hours: float) -> str:
    """Format hours compactly for labels: ``"90min"``, ``"2h"``, ``"15d"``."""
    if hours != 0 and abs(hours) < 1:
        return f"{hours * 60:g}min"
    if abs(hours) >= 48 and abs(hours / 24 - round(hours / 24)) < 1e-9:
        return f"{hours / 24:g}d"
    return f"{hours:g}h"
