"""Command-line values that set scenario quantities, checked against the same ranges as the scenario fields.

``--n``, ``--seed``, ``--half-life``, ``--threshold``, ``--weight``, ``--draws``: each is validated with
:func:`occupancy.simulation.scenario.check_value` against the pydantic field it overrides, so the CLI and the
scenario files share one set of plausible ranges (README "Scenario file reference") and one wording.
"""

from __future__ import annotations

HALF_LIFE_HELP = ("Blockade half-life with a unit, the same in every command: 72h, 4.5d, 110min "
                  "(naltrexone 1-1000 h; naloxone 1-6000 min).")


def check_population(n, seed, *, allow_typical: bool = False) -> None:
    """``--n`` (2 to 100,000 virtual subjects; 0 = typical subject only where ``allow_typical``) and ``--seed``."""
    from occupancy.simulation.scenario import PopulationSection, check_value

    if n is not None and not (allow_typical and n == 0):
        check_value(PopulationSection, "n", n, "--n")
    if seed is not None:
        check_value(PopulationSection, "seed", seed, "--seed")


def half_life_override(model_cls, text: str) -> dict:
    """The model parameter that ``--half-life TEXT`` sets for ``model_cls`` (``{"half_life_h": 108.0}``).

    The text needs a unit (``108h``, ``4.5d``, ``110min``); the value is checked against the scenario
    field's range.  Works for any model class with a ``half_life_h`` or ``half_life_min`` parameter.
    """
    from dataclasses import fields

    from occupancy.dosing.quantities import parse_time_h
    from occupancy.errors import InputError
    from occupancy.simulation.scenario import ModelSection, check_value

    hours = parse_time_h(text, what="--half-life")
    names = {f.name for f in fields(model_cls)}
    if "half_life_h" in names:
        return {"half_life_h": check_value(ModelSection, "half_life_h", float(hours), "--half-life (h)")}
    if "half_life_min" in names:
        return {"half_life_min": check_value(ModelSection, "half_life_min", float(hours) * 60.0,
                                             "--half-life (min)")}
    raise InputError(f"--half-life: the {model_cls.name} model has no half-life")


def quick_rows(doses, assess) -> tuple[list[dict], list[dict]]:
    """``--dose`` and ``--assess`` texts as scenario rows (``[[doses]]``, ``[[assessments]]`` dictionaries).

    Clock times (``50mg@09:00``, ``--assess 10:30``, ``d8 10:30``) count from the first ``--dose``'s clock time
    (:mod:`occupancy.dosing.quantities`); an assessment ``START-END`` is a window (mean blockade over it).
    Shared by the quick forms of ``simulate`` and ``plan``.
    """
    from occupancy.dosing.quantities import dose_clock, parse_dose, parse_times_h

    origin = dose_clock(doses[0]) if doses else None
    dose_rows = []
    for text in doses:
        d = parse_dose(text, clock_origin=origin)
        row = {"time_h": d.time_h, "duration_min": d.duration_min}
        if d.amount_mg is not None:
            row["amount_mg"] = d.amount_mg
        else:
            row["amount_mg_per_kg"] = d.amount_mg_per_kg
        dose_rows.append(row)
    assessments = []
    for text in assess:
        for part in [p.strip() for p in text.split(",") if p.strip()]:
            start, sep, end = part[1:].partition("-")
            if sep:  # a window "10min-70min": mean blockade over the window
                t0 = parse_times_h(part[0] + start, what="--assess", clock_origin=origin)[0]
                t1 = parse_times_h(end, what="--assess", clock_origin=origin)[0]
                assessments.append({"label": part, "time_h": t0, "end_h": t1})
            else:
                assessments.append({"label": part,
                                    "time_h": parse_times_h(part, what="--assess", clock_origin=origin)[0]})
    return dose_rows, assessments
