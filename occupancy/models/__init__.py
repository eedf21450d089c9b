"""Blockade models and the registry :func:`get_model`.

========== ========== ==================================================================================
drug       model      what it is
========== ========== ==================================================================================
naltrexone ``pkpd``    (default) mechanistic: plasma naltrexone + 6β-naltrexol, competitive MOR/KOR/DOR
                      binding, effect compartment or binding kinetics (:mod:`~occupancy.models.pkpd_naltrexone`)
naltrexone ``washout`` fitted blockade time course over days: absorption, super-saturation, 72 h washout
naltrexone ``emax``    plantrexone's dose → blockade hyperbola, valid within 8 h of a dose
naloxone   ``pkpd``    (default) mechanistic: Dowling 2008 three-compartment PK, competitive binding,
                      effect compartment or binding kinetics (:mod:`~occupancy.models.pkpd_naloxone`)
naloxone   ``bateman`` planoxone's IV bolus/infusion time course (tmax 25 min, half-life 110 min)
========== ========== ==================================================================================
"""

from __future__ import annotations

from dataclasses import fields

from occupancy.errors import InputError
from occupancy.models.base import RECEPTORS, BlockadeModel, check_receptor

DRUGS = ("naltrexone", "naloxone")
DEFAULT_MODEL = {"naltrexone": "pkpd", "naloxone": "pkpd"}
MODELS = {"naltrexone": ("pkpd", "washout", "emax"), "naloxone": ("pkpd", "bateman")}

__all__ = ["RECEPTORS", "DRUGS", "DEFAULT_MODEL", "MODELS", "BlockadeModel", "get_model", "model_class",
           "check_receptor", "check_drug"]


def check_drug(drug: str) -> str:
    """Canonical drug name or :class:`InputError`."""
    name = str(drug).strip().lower()
    if name not in DRUGS:
        raise InputError(f"drug.name: unknown drug {drug!r} (choose naltrexone or naloxone)")
    return name


def model_class(drug: str, name: str | None = None):
    """The model class for ``drug`` and model ``name`` (default model when ``None``)."""
    drug = check_drug(drug)
    name = DEFAULT_MODEL[drug] if name is None else str(name).strip().lower()
    if name not in MODELS[drug]:
        raise InputError(
            f"model.name: unknown model {name!r} for {drug} (choose {' or '.join(MODELS[drug])})"
        )
    if name == "pkpd":
        if drug == "naltrexone":
            from occupancy.models.pkpd_naltrexone import NaltrexonePKPD

            return NaltrexonePKPD
        from occupancy.models.pkpd_naloxone import NaloxonePKPD

        return NaloxonePKPD
    if name == "washout":
        from occupancy.models.washout import WashoutModel

        return WashoutModel
    if name == "emax":
        from occupancy.models.emax import EmaxModel

        return EmaxModel
    from occupancy.models.bateman import BatemanModel

    return BatemanModel


def get_model(drug: str, name: str | None = None, **params) -> BlockadeModel:
    """Build a blockade model with its default (published or fitted) parameters, optionally overridden.

    Parameters
    ----------
    drug : {"naltrexone", "naloxone"}
    name : str, optional
        ``"pkpd"`` (the default for both drugs), ``"washout"`` or ``"emax"`` (naltrexone), ``"bateman"``
        (naloxone).
    **params
        Parameter overrides, e.g. ``half_life_h=108`` (washout) or ``hysteresis="binding_kinetics"``,
        ``k_mor_ng_ml=0.2``, ``weight_kg=90`` (pkpd: the other parameters keep the values fitted for the
        chosen hysteresis variant); unknown names raise :class:`InputError`.

    Examples
    --------
    >>> get_model("naltrexone").name
    'pkpd'
    >>> get_model("naltrexone", "washout", half_life_h=108).half_life_h
    108.0
    >>> get_model("naltrexone", "pkpd", hysteresis="binding_kinetics").hysteresis
    'binding_kinetics'
    """
    cls = model_class(drug, name)
    allowed = [f.name for f in fields(cls)]
    for key, value in params.items():
        if key not in allowed:
            raise InputError(
                f"model.{key}: not a parameter of the {cls.name} model (parameters: {', '.join(allowed)})"
            )
        if key in cls.text_parameters:
            if not isinstance(value, str):
                raise InputError(f"model.{key}: must be a text string (got {value!r})")
            params[key] = value.strip().lower()
        elif key not in cls.flag_parameters:
            if isinstance(value, bool):
                raise InputError(f"model.{key}: must be a number (got {value!r})")
            try:
                params[key] = float(value)
            except (TypeError, ValueError):
                raise InputError(f"model.{key}: must be a number (got {value!r})") from None
    model = cls(**params)
    unused = getattr(model, "unused_parameter", None)
    if unused is not None and unused in params:
        raise InputError(f"model.{unused}: not used with hysteresis = {model.hysteresis!r} "
                         f"(that variant uses {model.kinetic_parameter})")
    return model
