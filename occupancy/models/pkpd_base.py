"""Shared machinery of the mechanistic ``pkpd`` models: fitted defaults, body weight, doses, evaluation.

A ``pkpd`` model (:class:`~occupancy.models.pkpd_naltrexone.NaltrexonePKPD`,
:class:`~occupancy.models.pkpd_naloxone.NaloxonePKPD`) is a frozen dataclass whose fields are its parameters;
its module holds the equations and their sources.  This base class provides everything they share:

* **Fitted defaults.**  A parameter left at ``None`` takes the value fitted for the model's hysteresis
  variant in the calibration record (``occupancy/data/pkpd_<drug>_calibration.json``, written by
  ``blockade calibrate --refit --write``); each variant has its own fit, so
  ``NaltrexonePKPD(hysteresis="binding_kinetics")`` uses the binding-kinetics parameters.  The record also
  holds the between-subject variability and the parameter uncertainty (:meth:`PKPDModel.parameter_draws`).
* **Body weight** (an assumption, not a fitted covariate): clearances scale with ``(W/70)^0.75`` and volumes
  with ``W/70`` (allometric scaling: Holford 1996, Clin Pharmacokinet 30:329; Anderson & Holford 2008, Annu
  Rev Pharmacol Toxicol 48:303).  ``W`` is the schedule's ``weight_kg`` when set, else the model's (70 kg).
* **Evaluation** (:meth:`PKPDModel.concentrations`, :meth:`PKPDModel.blockade_all`,
  :meth:`PKPDModel.blockade_blocks`): the effect-compartment variant is a sum of exponentials evaluated in
  closed form (:mod:`occupancy.models.linear_kinetics`); the binding-kinetics variant is integrated by the
  exact exponential integrator of :mod:`occupancy.models.binding` driven by the closed-form plasma
  concentrations.  Both are vectorised over virtual subjects (``(n, 1)`` scale arrays), chunked over time
  with bounded memory, with no ODE solver and no per-subject loop.

A subclass provides ``_conc_modes``, ``_effect_modes`` and ``_binding_setup`` (its modal forms and binding
constants) and the class attributes ``CALIBRATION_FILE`` and ``KINETIC`` (the variants' kinetic constants).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import fields, replace

import numpy as np

from occupancy.errors import InputError
from occupancy.models import binding, linear_kinetics as lk
from occupancy.models.base import RECEPTORS, BlockadeModel, as_times, check_receptor
from occupancy.models.kinetics import is_population

#: The hysteresis variants of every ``pkpd`` model.
HYSTERESIS = ("effect_compartment", "binding_kinetics")
#: Candidate structures (issue 19): hysteresis mechanism and number of plasma phases of naltrexone.  The two
#: legacy names keep their meaning (two-phase disposition); naloxone's structures are its hysteresis variants.
#: See docs/explanation/models.md and :mod:`occupancy.calibration.pkpd.bayes` (priors, likelihood, comparison).
STRUCTURES = {
    "effect_compartment": {"hysteresis": "effect_compartment", "phases": 2,
                           "meaning": "two-phase disposition + 96 h terminal, effect compartment (ke0 free)"},
    "binding_kinetics": {"hysteresis": "binding_kinetics", "phases": 2,
                         "meaning": "two-phase disposition + 96 h terminal, fast entry, receptor binding kinetics"},
    "three_phase": {"hysteresis": "effect_compartment", "phases": 3,
                    "meaning": "three-phase disposition (3 h, 9 h, 96 h), fast brain entry (ke0 prior: minutes)"},
    "three_phase_binding": {"hysteresis": "binding_kinetics", "phases": 3,
                            "meaning": "three-phase disposition, fast entry, slow receptor dissociation (koff)"},
}
#: Values of the three-phase parameters in a legacy (two-phase, least-squares) record: no intermediate phase.
LEGACY_DEFAULTS = {"t_half_gamma_h": 9.2, "intermediate_auc_fraction": 0.0}
#: Parameters that may be exactly 0 (the intermediate phase is absent in two-phase structures).
ZERO_ALLOWED = ("intermediate_auc_fraction",)
#: Kinetic constant of each variant (the other variant's constant is unused).
KINETIC = {"effect_compartment": "ke0_per_h", "binding_kinetics": "koff_per_h"}
#: Reference body weight (kg): the parameters are those of a 70-kg subject.
REFERENCE_WEIGHT_KG = 70.0
#: Allometric exponents (assumption, not fitted): clearances ∝ W^0.75, volumes ∝ W^1 (Holford 1996).
CLEARANCE_EXPONENT = 0.75
VOLUME_EXPONENT = 1.0

#: Physical range ``(lower, upper)`` of each numeric ``pkpd`` parameter (both drugs), inclusive.  Far wider than
#: any plausible value: every fitted value, every bootstrap replicate, every profile point and the optimizer
#: bounds of the calibration (``occupancy/calibration/pkpd/problems.py``, recorded under ``optimizer.bounds`` in
#: ``occupancy/data/pkpd_*_calibration.json``) lie inside, so refits and profiles keep working.  The bounds keep
#: the arithmetic away from underflow and overflow (a 1e−300 clearance, an absorption half-time of seconds on a
#: one-year grid) and the binding-kinetics step grid bounded.  Used by :meth:`PKPDModel._fill_defaults` (Python
#: API) and by the ``[model]`` section's field constraints (scenario files, README reference).
PARAMETER_RANGES = {
    # absorption half-time 25 s to 69 h (fitted 2.2–3.7 /h, i.e. tmax ~1 h; optimizer 0.3–20 /h)
    "ka_per_h": (0.01, 100.0),
    # CL/F (naltrexone, fitted ~750 L/h, optimizer 100–5000) and naloxone CL (91 L/h): 1 L/h is below any
    # renal clearance, 10 000 L/h far above hepatic blood flow divided by the lowest F considered
    "cl_l_per_h": (1.0, 10_000.0),
    # fast disposition half-life 3 min to 100 h (fitted ~2.9 h, optimizer 1–12 h)
    "t_half_alpha_h": (0.05, 100.0),
    # terminal half-life up to ~6 weeks (held at 96 h, Lee 1988; profiled 24–240 h); it must also exceed
    # t_half_alpha_h (checked by the model)
    "t_half_beta_h": (0.05, 1000.0),
    # intermediate (≈ 9 h) oral phase: half-life 3 min to 1000 h; AUC share 0 (two-phase structures) to 0.99
    "t_half_gamma_h": (0.05, 1000.0),
    "intermediate_auc_fraction": (0.0, 0.99),
    # share of the AUC in the terminal phase (fitted 1e−5–0.015, optimizer 1e−5–0.6); 1 would be a
    # one-compartment model with the terminal half-life only
    "terminal_auc_fraction": (1e-6, 0.99),
    # systemic availability 0.1 %–100 % (held 5 %; profiled 1–30 %)
    "f_systemic": (0.001, 1.0),
    # 6β-naltrexol half-life 6 min to 200 h (fitted ~13 h, reported 8–13 h; optimizer 3–30 h)
    "t_half_nol_h": (0.1, 200.0),
    # apparent 6β-naltrexol volume V_NOL/fm 1 L to 100 000 L (fitted ~410 L; optimizer 50–5000 L)
    "v_nol_l": (1.0, 100_000.0),
    # in vivo MOR K: 1e−4 ng/mL (sub-picomolar) to 10 µg/mL; fitted 0.04–0.7 ng/mL; optimizer bounds
    # 1e−4–100 (naltrexone) and 1e−4–10 000 ng/mL (naloxone)
    "k_mor_ng_ml": (1e-4, 10_000.0),
    # K_NOL/K_NTX: 0.01 (6β-naltrexol 100× more potent) to 1e6 (inactive); derived ≈ 423, profiled 3–1e6
    "nol_potency_ratio": (0.01, 1e6),
    # effect-site half-life 2.5 s to ~9.5 months (fitted 0.025 /h naltrexone, 1.1 /h naloxone; optimizer
    # bounds 1e−4–10 and 1e−3–1000 /h)
    "ke0_per_h": (1e-4, 1000.0),
    # receptor off-rate, same span (fitted 0.0068 /h naltrexone — Lee 1988's 72–108 h blockade half-time —
    # and 0.38 /h naloxone; optimizer bounds 1e−4–10 and 1e−3–1000 /h).  At 1e−4 /h the blockade half-time is
    # ~290 days; the summaries search at most one year after the last dose, so the run stays in seconds.
    "koff_per_h": (1e-4, 1000.0),
    # naloxone compartment volumes and inter-compartmental clearances (Dowling 2008: V1 2.87, V2 1.49,
    # V3 33.6 L; Q2 5.66, Q3 29.8 L/h): 10 mL to 10 000 L and 0.01 to 10 000 L/h
    "v1_l": (0.01, 10_000.0),
    "v2_l": (0.01, 10_000.0),
    "v3_l": (0.01, 10_000.0),
    "q2_l_per_h": (0.01, 10_000.0),
    "q3_l_per_h": (0.01, 10_000.0),
}


def parameter_range_text(name: str) -> str:
    """``"[lo, hi]"`` of a ``pkpd`` parameter, for messages."""
    lo, hi = PARAMETER_RANGES[name]
    return f"[{lo:g}, {hi:g}]"


@functools.lru_cache(maxsize=8)
def load_record(path: str) -> dict:
    """A calibration record (JSON), cached; :class:`RuntimeError` naming the command that writes it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError as exc:  # pragma: no cover - only before the first `blockade calibrate --write`
        raise RuntimeError(f"{path} is missing; run `blockade calibrate --refit --write` to create it") from exc


def weight_factors(weight_kg: float) -> tuple[float, float]:
    """``(clearance factor, volume factor) = ((W/70)^0.75, (W/70)^1)`` (allometric assumption)."""
    r = weight_kg / REFERENCE_WEIGHT_KG
    return r**CLEARANCE_EXPONENT, r**VOLUME_EXPONENT


def effective_weight(schedule, model_weight_kg: float) -> float:
    """The subject's weight: ``schedule.weight_kg`` when set, else the model's ``weight_kg``."""
    w = getattr(schedule, "weight_kg", None)
    w = model_weight_kg if w is None else float(w)
    if not (math.isfinite(w) and w > 0):
        raise InputError(f"subject.weight_kg: must be > 0 (got {w})")
    return w


def dose_arrays(schedule, weight_kg: float):
    """Dose starts (h), durations (h) and amounts (mg) of ``schedule`` (mg/kg doses × ``weight_kg``)."""
    starts, durs, mg = [], [], []
    for d in schedule.doses:
        starts.append(float(d.time_h))
        durs.append(float(d.duration_min) / 60.0)
        mg.append(float(d.amount_mg) if d.amount_mg is not None else float(d.amount_mg_per_kg) * weight_kg)
    return np.array(starts), np.array(durs), mg


def dose_routes(schedule) -> list:
    """The route of each dose of ``schedule`` (``None``: the drug's usual route; ``"iv"`` is read as ``None``)."""
    out = []
    for d in schedule.doses:
        r = getattr(d, "route", None)
        out.append(None if r in (None, "iv") else r)
    return out


class RouteSuperposition:
    """Doses given by several routes: one :class:`~occupancy.models.linear_kinetics.Superposition` per route,
    summed (exact: the system is linear, so the response to all doses is the sum of the responses to each
    route's doses).  Same interface as ``Superposition`` (``n``, ``k``, ``m``, ``W``, call with times)."""

    def __init__(self, parts):
        self.parts = parts
        self.n = max(p.n for p in parts)
        self.k = parts[0].k
        self.m = max(p.m for p in parts)
        self.lam = np.concatenate([np.broadcast_to(p.lam, (self.n, p.m)) for p in parts], axis=1)
        self.W = np.concatenate([np.broadcast_to(p.W, (self.n, self.k, p.m)) for p in parts], axis=2)

    def __call__(self, times_h, out=None, work=None):
        times = np.asarray(times_h, dtype=float).ravel()
        T = times.size
        if out is None:
            out = np.zeros((self.n, self.k, T))
        else:
            out = out[:, :, :T]
        tmp = np.empty((self.n, self.k, T))
        for i, p in enumerate(self.parts):
            w = work[:, :p.m, :] if work is not None and work.shape[1] >= p.m and work.shape[0] == p.n else None
            if i == 0:
                p(times, out=out, work=w)
            else:
                out += p(times, out=tmp, work=w)
        return out


def _zero_residue_at_start(out, t, starts, amounts, W) -> None:
    """Set rounding residue at times up to the first dose to exact 0 (in place; ``out`` is ``(n, k, T)``).

    Before the first dose every output is 0 (exactly, by construction).  At the first dose time an output either
    jumps (an IV bolus: plasma concentration dose/V1) or is 0 analytically (oral dose, metabolite, infusion start,
    effect site), where the modal sum leaves ~1e−16 × Σ|terms|.  Values below 1e−12 × that scale are that residue.
    """
    if not starts.size:
        return
    n0 = int(np.searchsorted(t, float(starts.min()), side="right")) if np.all(np.diff(t) >= 0) else None
    cols = slice(0, n0) if n0 is not None else (t <= float(starts.min()))
    amount = max(float(np.max(np.abs(a))) for a in amounts)
    scale = np.abs(np.asarray(W)).sum(axis=-1) * amount  # (n or 1, k)
    block = out[:, :, cols]
    block[np.abs(block) <= 1e-12 * scale[..., None]] = 0.0
    out[:, :, cols] = block


def _stacked_modes(models, modes_of):
    """``(lam, W)`` of several models side by side on the subject axis (one model: its own modes unchanged)."""
    if len(models) == 1:
        return modes_of(models[0])
    parts = [modes_of(m) for m in models]
    lam = np.concatenate([np.asarray(p[0], dtype=float).reshape(-1, np.shape(p[0])[-1]) for p in parts], axis=0)
    W = np.concatenate([np.asarray(p[1], dtype=float).reshape((-1,) + np.shape(p[1])[-2:]) for p in parts], axis=0)
    return lam, W


def _stackable(models) -> bool:
    """Models that differ only in parameter values: one class, structure, hysteresis and body weight."""
    first = models[0]
    key = (type(first), first.hysteresis, getattr(first, "structure", None), first.weight_kg)
    return isinstance(first, PKPDModel) and all(
        (type(m), m.hysteresis, getattr(m, "structure", None), m.weight_kg) == key for m in models)


def blockade_of_models(models, schedule, times_h, receptors=RECEPTORS) -> dict:
    """Percent occupancy ``(len(models), T)`` per receptor of several typical-subject models on one schedule.

    Parameter draws (:meth:`PKPDModel.parameter_draws`) differ only in their parameter values, so they are
    evaluated side by side in one pass, as the subjects of a population are: one superposition with per-draw
    modal constants and, for binding kinetics, one integration with per-draw ``kon``/``koff`` (the step grid
    is shared, refined for the fastest draw).  Models that cannot share a pass (different classes, structures
    or body weights) are evaluated one by one.

    Notes
    -----
    Same equations as :meth:`PKPDModel.blockade_all` (a test compares them draw by draw); what it saves is the
    per-draw Python overhead of a few hundred integrator steps on arrays of one subject.
    """
    models = list(models)
    receptors = tuple(check_receptor(r) for r in receptors)
    t = as_times(times_h)
    if not models:
        return {r: np.zeros((0, t.size)) for r in receptors}
    if len(models) == 1 or not _stackable(models):
        return {r: np.stack([np.atleast_1d(np.asarray(m.blockade_all(schedule, t, receptors)[r], dtype=float))
                             for m in models]) for r in receptors}
    return models[0]._blockade_rows(schedule, t, receptors, _stack=models)


class PKPDModel(BlockadeModel):
    """Base class of the ``pkpd`` models (see the module docstring)."""

    name = "pkpd"
    #: Path of the calibration record (set by each subclass).
    CALIBRATION_FILE = None
    #: Names of the parameters that are text (the others are numbers).
    text_parameters = ("hysteresis", "structure")

    # ------------------------------------------------------------------ fitted defaults
    @classmethod
    def record(cls) -> dict:
        """The calibration record of this model (fitted parameters, residuals, variability, uncertainty)."""
        return load_record(str(cls.CALIBRATION_FILE))

    @classmethod
    def has_structures(cls) -> bool:
        """Whether the record holds the Bayesian calibration (``structures``, issue 19)."""
        return "structures" in cls.record()

    @classmethod
    def default_structure(cls) -> str:
        """The record's default structure: the best leave-one-source-out predictor among the admissible ones."""
        rec = cls.record()
        return rec.get("default_structure") or rec["default_hysteresis"]

    @classmethod
    def default_hysteresis(cls) -> str:
        """The hysteresis of the default structure (legacy records: the record's ``default_hysteresis``)."""
        rec = cls.record()
        if "default_structure" in rec:
            return STRUCTURES.get(rec["default_structure"], {}).get("hysteresis", rec["default_structure"])
        return rec["default_hysteresis"]

    @classmethod
    def admissible_structures(cls) -> list[tuple[str, float]]:
        """``[(structure, weight)]`` of the admissible structures (weights sum to 1), best first."""
        rec = cls.record()
        if "structures" not in rec:
            return [(rec["default_hysteresis"], 1.0)]
        rows = [(k, float(v["weight"])) for k, v in rec["structures"].items() if v.get("admissible")]
        total = sum(w for _, w in rows) or 1.0
        return sorted(((k, w / total) for k, w in rows), key=lambda kv: -kv[1])

    @classmethod
    def fitted_parameters(cls, hysteresis: str | None = None) -> dict:
        """The calibrated (and held) parameters of a structure (posterior medians), plus the other hysteresis
        variant's kinetic constant (unused but a valid number).  ``hysteresis`` names a structure (the legacy
        hysteresis names are structures too)."""
        rec = cls.record()
        name = hysteresis or cls.default_structure()
        # legacy least-squares variants (two-phase), replaced by the Bayesian structures where calibrated
        table = {k: {**LEGACY_DEFAULTS, **v["parameters"]} for k, v in rec.get("variants", {}).items()}
        table.update({k: v["parameters"] for k, v in rec.get("structures", {}).items()})
        if name not in table:
            raise InputError(f"model.structure: {name!r} is not calibrated for {cls.drug} "
                             f"(calibrated: {', '.join(table)})")
        out = {}
        own = STRUCTURES.get(name, {}).get("hysteresis", name)
        for other, params in table.items():  # the other hysteresis' kinetic constant (unused, valid)
            h = STRUCTURES.get(other, {}).get("hysteresis", other)
            if h != own and KINETIC[h] in params and KINETIC[h] not in out:
                out[KINETIC[h]] = params[KINETIC[h]]
        out.update(table[name])
        return out

    @property
    def structure_name(self) -> str:
        """The model's structure (naloxone: its hysteresis variant)."""
        return getattr(self, "structure", None) or self.hysteresis

    def _resolve_structure(self) -> str:
        """Fill ``structure``/``hysteresis`` from each other or the record's default; return the structure."""
        has_field = any(f.name == "structure" for f in fields(self))
        s, h = (getattr(self, "structure", None) if has_field else None), self.hysteresis
        if h is not None and h not in HYSTERESIS:
            raise InputError(f"model.hysteresis: must be 'effect_compartment' or 'binding_kinetics' (got {h!r})")
        if not has_field:
            h = h or self.default_hysteresis()
            object.__setattr__(self, "hysteresis", h)
            return h
        if s is None:
            s = h if h is not None else self.default_structure()
        if s not in STRUCTURES:
            raise InputError(f"model.structure: must be one of {', '.join(STRUCTURES)} (got {s!r})")
        want = STRUCTURES[s]["hysteresis"]
        if h is not None and h != want:
            raise InputError(f"model.hysteresis: structure {s!r} has hysteresis {want!r} (got {h!r}); "
                             "give one of them")
        object.__setattr__(self, "structure", s)
        object.__setattr__(self, "hysteresis", want)
        return s

    def _fill_defaults(self) -> None:
        """Replace ``None`` fields by the calibrated values of the model's structure, then check every value."""
        name = self._resolve_structure()
        fitted = self.fitted_parameters(name)
        for f in fields(self):
            if getattr(self, f.name) is None:
                if f.name not in fitted:  # pragma: no cover - the record lists every fitted field
                    raise RuntimeError(f"{self.CALIBRATION_FILE}: no value for {f.name}")
                object.__setattr__(self, f.name, float(fitted[f.name]))
        for f in fields(self):
            if f.name in self.text_parameters:
                continue
            v = getattr(self, f.name)
            positive = v >= 0 if f.name in ZERO_ALLOWED else v > 0
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not positive:
                need = ">= 0" if f.name in ZERO_ALLOWED else "> 0"
                raise InputError(f"model.{f.name}: must be a finite number {need} (got {v!r})")
            if f.name in PARAMETER_RANGES:
                lo, hi = PARAMETER_RANGES[f.name]
                if not lo <= v <= hi:
                    raise InputError(f"model.{f.name}: must be in {parameter_range_text(f.name)} "
                                     f"(physical range of the pkpd models; got {v!r})")
            object.__setattr__(self, f.name, float(v))
        self._check_receptor_order()

    def _check_receptor_order(self) -> None:
        """``1 <= kor_ratio <= dor_ratio`` (the receptor order MOR >= KOR >= DOR assumes it); the message names
        the ratio that was changed from the model's default (``dor_ratio`` when both were)."""
        kor, dor = self.kor_ratio, self.dor_ratio
        why = "the receptor order MOR >= KOR >= DOR assumes it"
        if kor < 1:
            raise InputError(f"model.kor_ratio: must be >= 1 (got {kor:g}): {why}")
        if dor < kor:
            defaults = {f.name: f.default for f in fields(self)}
            if dor == defaults.get("dor_ratio") and kor != defaults.get("kor_ratio"):
                raise InputError(f"model.kor_ratio: must be <= dor_ratio = {dor:g} (got {kor:g}): {why}")
            raise InputError(f"model.dor_ratio: must be >= kor_ratio = {kor:g} (got {dor:g}): {why}")

    @property
    def kinetic_parameter(self) -> str:
        """``ke0_per_h`` (effect compartment) or ``koff_per_h`` (binding kinetics)."""
        return KINETIC[self.hysteresis]

    @property
    def unused_parameter(self) -> str:
        """The other variant's kinetic constant (not used by this model)."""
        return KINETIC["binding_kinetics" if self.hysteresis == "effect_compartment" else "effect_compartment"]

    def with_(self, **changes):
        """A copy with some parameters changed."""
        return replace(self, **changes)

    def parameters(self) -> dict:
        """The parameters in use (the other variant's kinetic constant left out), JSON-ready."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != self.unused_parameter}

    def overrides(self) -> dict:
        """Parameters that differ from this variant's fitted values (what a scenario changed)."""
        fitted = self.fitted_parameters(self.structure_name)
        return {k: getattr(self, k) for k in fitted if hasattr(self, k) and k != self.unused_parameter
                and not math.isclose(getattr(self, k), float(fitted[k]), rel_tol=1e-12, abs_tol=0.0)}

    # ------------------------------------------------------------------ variability and uncertainty
    @property
    def variability_scales(self) -> tuple:
        """Between-subject multipliers of this model (keyword ``<name>_scale``), in draw order."""
        kin = self.kinetic_parameter.replace("_per_h", "")
        return tuple(self.VARIABILITY_BASE) + (kin,)

    def stored_variability(self) -> dict:
        """The log-SDs derived for this variant (from the record): ``{name: log-SD}``, plus ``source``."""
        rec = self.record()
        v = (rec["structures"][self.structure_name] if self.structure_name in rec.get("structures", {})
             else rec["variants"][self.hysteresis])["variability"]
        out = {n: float(v[f"{n}_log_sd"]) for n in self.variability_scales}
        return {"log_sds": out, "source": v.get("source", ""), "derivation": v.get("derivation", {})}

    @classmethod
    def posterior_file(cls):
        """Path of the committed posterior draws (``pkpd_<drug>_posterior.json`` next to the record)."""
        from pathlib import Path

        return Path(str(cls.CALIBRATION_FILE)).with_name(f"pkpd_{cls.drug}_posterior.json")

    @classmethod
    def posterior(cls) -> dict | None:
        """The committed posterior draws ``{structure: {"parameter_names", "draws"}}`` (``None`` if absent)."""
        path = cls.posterior_file()
        if not path.exists():
            return None
        return load_record(str(path))["structures"]

    def parameter_draws(self, n: int, seed) -> list:
        """``n`` typical-subject models drawn from the posterior of this model's structure (seeded).

        The draws are the committed posterior draws of the Bayesian calibration (emcee, thinned;
        ``occupancy/data/pkpd_<drug>_posterior.json``, :mod:`occupancy.calibration.pkpd.bayes`): each stored draw
        is used ``n // D`` times and ``n % D`` more are chosen without replacement
        (``numpy.random.default_rng(seed)``), so ``n = D`` returns every draw once.  Parameters this model
        overrides and the body weight stay at this model's values.  This is parameter *uncertainty* about the
        typical subject, not between-subject variability.

        Notes
        -----
        Resampling stored draws (not a normal approximation) keeps the posterior's shape: parameters the data
        barely pin (the terminal-phase share, 6β-naltrexol potency) have skewed posteriors.  A legacy record
        without posterior draws falls back to its parametric-bootstrap replicates.

        Raises
        ------
        InputError
            When neither posterior draws nor a bootstrap exist for this structure.
        """
        post = self.posterior()
        name = self.structure_name
        if post is not None and name in post:
            names = list(post[name]["parameter_names"])
            rows = post[name]["draws"]
            replicates = [dict(zip(names, r)) for r in rows]
        else:
            rec = self.record()
            unc = rec.get("uncertainty") or {}
            if unc.get("variant") != self.hysteresis:
                raise InputError(f"uncertainty: parameter uncertainty of the {self.drug} pkpd model was estimated "
                                 f"for {unc.get('variant')!r} only, not for {name!r}")
                # (legacy bootstrap record)
            names = list(unc["parameter_names"])
            replicates = [r["values"] for r in unc["replicates"] if r.get("success", True)]
        rng = np.random.default_rng(seed)
        full, rest = divmod(int(n), len(replicates))  # every draw equally often, the rest without replacement
        idx = np.concatenate([rng.permutation(len(replicates)) for _ in range(full)]
                             + [rng.choice(len(replicates), size=rest, replace=False)]).astype(int)
        held = set(self.overrides())
        out = []
        for i in idx:
            values = {p: float(replicates[i][p]) for p in names if p not in held and hasattr(self, p)}
            out.append(replace(self, **values))
        return out

    def structure_draws(self, n: int, seed) -> list:
        """``[(structure, weight, [n models])]`` over the admissible structures (INTERFACES.md, issue 19).

        One entry per admissible structure of the record (``structures[*].admissible``) with its
        stacking weight (weights sum to 1) and ``n`` posterior draws of that structure as models
        (:meth:`parameter_draws`).  The body weight and the parameters this model overrides (those that the other
        structure has too) are carried over.  Same ``seed`` → identical draws; the structures use independent
        streams ``numpy.random.SeedSequence(seed).spawn``.
        """
        overrides = self.overrides()
        adm = self.admissible_structures()
        if isinstance(seed, np.random.Generator):
            rngs = [seed] * len(adm)
        else:
            rngs = [np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(len(adm))]
        out = []
        for (name, w), rng in zip(adm, rngs):
            out.append((name, w, self._for_structure(name, overrides).parameter_draws(n, rng)))
        return out

    def _for_structure(self, name: str, overrides: dict):
        """This model (weight, kor/dor ratios, overrides) under another structure."""
        if name == self.structure_name:
            return self
        has_field = any(f.name == "structure" for f in fields(self))
        kw = {"weight_kg": self.weight_kg, "kor_ratio": self.kor_ratio, "dor_ratio": self.dor_ratio}
        if has_field:
            kw["structure"] = name
        else:
            kw["hysteresis"] = name
        other = STRUCTURES.get(name, {}).get("hysteresis", name)
        drop = KINETIC["binding_kinetics" if other == "effect_compartment" else "effect_compartment"]
        kw.update({k: v for k, v in overrides.items() if k != drop and k not in kw})
        return type(self)(**kw)

    # ------------------------------------------------------------------ evaluation helpers
    def _check_scales(self, scales: dict) -> dict:
        allowed = {f"{s}_scale" for s in self.ALL_SCALES}
        unknown = set(scales) - allowed - {"dose_scale"}
        if unknown:
            raise TypeError(f"unknown scale keyword(s) for the {self.drug} pkpd model: {sorted(unknown)}")
        unused = self.unused_parameter.replace("_per_h", "_scale")
        if np.any(np.asarray(scales.get(unused, 1.0)) != 1.0):
            raise ValueError(f"{unused} does not apply to hysteresis={self.hysteresis!r}")
        return {k: scales.get(k, 1.0) for k in (*sorted(allowed), "dose_scale")}

    def _doses(self, schedule, dose_scale):
        w = effective_weight(schedule, self.weight_kg)
        starts, durs, mg = dose_arrays(schedule, w)
        ds = np.asarray(dose_scale, dtype=float)
        amounts = [a * ds for a in mg] if ds.ndim else [a * float(ds) for a in mg]
        return w, starts, durs, amounts

    #: True for a model whose doses may name a route (``Dose.route``); see :meth:`_superposition`.
    supports_routes = False

    def _superposition(self, schedule, starts, durs, amounts, modes):
        """The dose history as an exact superposition; ``modes(route)`` gives ``(lam, W)`` of a route.

        Doses of the drug's usual route (``route`` ``None``/``"iv"``) use ``modes(None)``; a model with
        ``supports_routes`` also takes ``"intranasal"``/``"intramuscular"`` doses, each route with its own
        modal form (absorption depot and bioavailability), summed by :class:`RouteSuperposition`.
        """
        routes = dose_routes(schedule)
        kinds = list(dict.fromkeys(routes))
        if kinds != [None] and not self.supports_routes:
            bad = next(r for r in routes if r is not None)
            raise InputError(f"dose route: the {self.drug} {self.name} model takes no route (got {bad!r}); "
                             f"{self.drug} is given by its usual route only")
        if kinds == [None]:
            lam, W = modes(None)
            return lk.Superposition(starts, durs, amounts, lam, W)
        parts = []
        for kind in kinds:
            sel = [i for i, r in enumerate(routes) if r == kind]
            lam, W = modes(kind)
            parts.append(lk.Superposition(starts[sel], durs[sel], [amounts[i] for i in sel], lam, W))
        return RouteSuperposition(parts)

    def _route_conc_modes(self, w, s, route):
        """``_conc_modes`` of one route (``None``: the usual route, the only one of a model without routes)."""
        return self._conc_modes(w, s) if route is None else self._conc_modes(w, s, route=route)

    def _route_effect_modes(self, w, receptors, s, route):
        """``_effect_modes`` of one route (see :meth:`_route_conc_modes`)."""
        return self._effect_modes(w, receptors, s) if route is None else self._effect_modes(w, receptors, s,
                                                                                            route=route)

    # ------------------------------------------------------------------ public API
    def concentrations(self, schedule, times_h, **scales) -> dict:
        """Plasma concentrations (ng/mL) per ligand (``C_<substance>_ng_ml``): ``(T,)`` or ``(n, T)``."""
        s = self._check_scales(scales)
        t = as_times(times_h)
        w, starts, durs, amounts = self._doses(schedule, s["dose_scale"])
        names = self._conc_modes(w, s)[2]
        sup = self._superposition(schedule, starts, durs, amounts, lambda r: self._route_conc_modes(w, s, r)[:2])
        out = sup(t)
        np.maximum(out, 0.0, out=out)  # rounding guard: a sum of exponentials that is 0 at a dose time may be −1e−16
        _zero_residue_at_start(out, t, starts, amounts, sup.W)
        pop = is_population(*s.values())
        return {k: (out[:, i, :] if pop else out[0, i, :]) for i, k in enumerate(names)}

    def blockade_blocks(self, schedule, times_h, receptors=RECEPTORS, block_elements=2_000_000,
                        reuse_buffers=False, _stack=None, **scales):
        """Yield ``(slice, {receptor: (n, k) percent})`` over consecutive blocks of sorted ``times_h``.

        About ``block_elements`` subject × time values per receptor are held at once; the binding-kinetics
        state is carried from block to block (cost linear in the grid length).  With ``reuse_buffers=True``
        the yielded arrays are overwritten by the next block (for consumers that summarise each block at once,
        e.g. :func:`occupancy.simulation.population.simulate_population`).
        """
        receptors = tuple(check_receptor(r) for r in receptors)
        s = self._check_scales(scales)
        t = as_times(times_h)
        if t.size > 1 and np.any(np.diff(t) < 0):
            raise ValueError("blockade_blocks needs sorted times")
        w, starts, durs, amounts = self._doses(schedule, s["dose_scale"])
        stack = (self,) if _stack is None else tuple(_stack)  # models evaluated side by side (subject axis)
        if self.hysteresis == "effect_compartment":
            sup = self._superposition(schedule, starts, durs, amounts,
                                      lambda r: _stacked_modes(stack, lambda m: m._route_effect_modes(w, receptors,
                                                                                                       s, r)))
            step = max(1, int(block_elements // max(1, sup.n)))
            width = min(step, max(t.size, 1))
            # receptor-major buffers: each receptor's (n, k) block is contiguous for the consumer
            out_rm = np.empty((sup.k, sup.n, width)) if reuse_buffers else None
            work = np.empty((sup.n, sup.m, width)) if reuse_buffers else None
            tmp = np.empty((sup.k, sup.n, width)) if reuse_buffers else None
            # up to the first dose the effect sites are empty (Ce is continuous and starts at 0): X = 0 exactly there,
            # not the ~1e−15 rounding residue of a sum of exponentials that cancels at the dose time
            n_start = int(np.searchsorted(t, float(starts.min()), side="right")) if starts.size else 0
            for i0 in range(0, t.size, step):
                sl = slice(i0, min(t.size, i0 + step))
                w_ = sl.stop - sl.start
                x_rm = out_rm[:, :, :w_] if reuse_buffers else np.empty((sup.k, sup.n, w_))
                sup(t[sl], out=x_rm.transpose(1, 0, 2), work=work)
                np.maximum(x_rm, 0.0, out=x_rm)  # rounding guard (X ≥ 0 exactly; ±1e−16·|terms| at a dose time)
                if i0 < n_start:
                    x_rm[:, :, :n_start - i0] = 0.0
                d = tmp[:, :, :w_] if reuse_buffers else np.empty_like(x_rm)
                np.add(x_rm, 1.0, out=d)
                np.divide(x_rm, d, out=x_rm)
                x_rm *= 100.0  # occupancy = 100·X/(1+X) < 100
                yield sl, {r: x_rm[i] for i, r in enumerate(receptors)}
            return
        sup = self._superposition(schedule, starts, durs, amounts,
                                  lambda r: _stacked_modes(stack, lambda m: m._route_conc_modes(w, s, r)[:2]))
        lam = sup.lam
        if len(stack) == 1:
            kon, koff = self._binding_setup(w, receptors, s)
        else:
            setups = [m._binding_setup(w, receptors, s) for m in stack]
            kon = np.concatenate([np.asarray(k) for k, _ in setups], axis=2)
            koff = np.concatenate([np.asarray(k) for _, k in setups], axis=2)
        n = max(sup.n, kon.shape[2], koff.shape[2])
        durs = np.where(durs > lk.MIN_INFUSION_H, durs, 0.0)
        events = np.concatenate([starts, (starts + durs)[durs > 0]])
        # first step after a dose event: at most 1/20 of the fastest PK time constant (naloxone's 0.9-min
        # distribution phase needs ~0.1-min steps; naltrexone keeps the default 0.25 min)
        fastest = float(np.max(-np.asarray(lam)))
        nodes, out_idx = binding.step_grid(t, events, h_min=min(binding.H_MIN_H, binding.FAST_FRACTION / fastest))
        # buffers sized by the work actually done (not by the block budget: a 50M-element budget would map and
        # page-fault ~GB of scratch per call for a grid of a few hundred steps)
        chunk = max(1, int(block_elements // max(1, n * kon.shape[0])))
        width = max(1, min(chunk, max(nodes.size - 1, t.size)))
        work = np.empty((sup.n, sup.m, width))
        cbuf = np.empty((sup.n, sup.k, width))

        def conc_at(times):  # reused buffers: the integrator consumes each chunk before asking for the next
            if np.size(times) > width:  # one step holding more requested times than the budget
                return sup(times)
            return sup(times, out=cbuf, work=work)

        n_before = int(np.sum(out_idx < 0))
        if n_before:
            yield slice(0, n_before), {r: np.zeros((n, n_before)) for r in receptors}
        pos = n_before
        for block in binding.integrate_blocks(nodes, conc_at, np.broadcast_to(kon, (kon.shape[0], kon.shape[1], n)),
                                              np.broadcast_to(koff, (koff.shape[0], 1, n)), t[n_before:],
                                              out_idx[n_before:], n, block_elements=block_elements):
            np.clip(block, 0.0, 1.0, out=block)  # rounding guard
            block *= 100.0
            sl = slice(pos, pos + block.shape[2])
            pos = sl.stop
            yield sl, {r: block[:, i, :] for i, r in enumerate(receptors)}

    def blockade_all(self, schedule, times_h, receptors=RECEPTORS, **scales) -> dict:
        """Percent occupancy per receptor on ``times_h`` (any order): ``(T,)`` each, or ``(n, T)``."""
        receptors = tuple(check_receptor(r) for r in receptors)
        rows = self._blockade_rows(schedule, as_times(times_h), receptors, **scales)
        pop = is_population(*scales.values())
        return {r: (v if pop else v[0]) for r, v in rows.items()}

    def _blockade_rows(self, schedule, t, receptors, _stack=None, **scales) -> dict:
        """``(rows, T)`` percent per receptor at the times ``t`` in their given order: :meth:`blockade_blocks` on
        the sorted times, put back in order (rows: this model's subjects, or every model of ``_stack``)."""
        order = np.argsort(t, kind="stable")
        parts = {r: [] for r in receptors}
        for _sl, block in self.blockade_blocks(schedule, t[order], receptors, block_elements=50_000_000,
                                               _stack=_stack, **scales):
            for r in receptors:
                parts[r].append(block[r])
        out = {}
        for r in receptors:
            if not parts[r]:
                v = np.zeros((1 if _stack is None else len(_stack), 0))
            else:
                v = np.concatenate(parts[r], axis=1) if len(parts[r]) > 1 else np.ascontiguousarray(parts[r][0])
            res = np.empty_like(v)
            res[:, order] = v
            out[r] = res
        return out

    def blockade(self, schedule, times_h, receptor="MOR", **scales):
        """Percent occupancy of one receptor: ``(T,)`` or ``(n, T)``."""
        receptor = check_receptor(receptor)
        return self.blockade_all(schedule, times_h, (receptor,), **scales)[receptor]
