"""The reanalysis scenario (``[reanalysis]`` section) and the settings :func:`reanalyse` runs with.

A reanalysis scenario has ``[drug]`` (naltrexone), ``[model]``, ``[population]`` and ``[reanalysis]``;
dosing and windows come from the outcome table.  :func:`settings_from_scenario` turns it (or the
defaults) plus command-line overrides into a frozen :class:`ReanalysisSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, Field, model_validator

from occupancy.annotation.annotate import AnnotationSettings
from occupancy.annotation.literature import DEFAULT_WINDOW_H
from occupancy.errors import InputError
from occupancy.simulation.scenario import (
    MAX_SEED,
    STRICT_CONFIG,
    DoseSection,
    DrugSection,
    FiniteFields,
    PopulationSection,
    Scenario,
)

#: Longest assessment window end (h after a dose) in [reanalysis] default_window_h and the outcome tables.
MAX_WINDOW_H = 720.0
#: Most Monte Carlo draws (each draw refits the models).
MAX_DRAWS = 10_000
#: Most parameter-uncertainty draws of the pkpd model (each draw re-annotates every outcome).
MAX_UNCERTAINTY_DRAWS = 1_000
#: Default parameter-uncertainty draws (20 annotations of the bundled review take ~5 s with 1000 subjects).
DEFAULT_UNCERTAINTY_DRAWS = 20
#: Models of the one-at-a-time sensitivity (the base model is left out of its own variants).
SENSITIVITY_MODELS = ("pkpd", "washout", "emax")
#: Hysteresis variants of the pkpd model in the sensitivity (the base variant is left out).
SENSITIVITY_HYSTERESIS = ("effect_compartment", "binding_kinetics")


class ReanalysisSection(FiniteFields, BaseModel):
    """``[reanalysis]``: annotation and sensitivity choices (all optional)."""

    model_config = STRICT_CONFIG
    data: Optional[str] = None
    default_window_h: list[Annotated[float, Field(ge=0, le=MAX_WINDOW_H)]] = Field(
        default_factory=lambda: list(DEFAULT_WINDOW_H), min_length=2, max_length=2)
    window_point: Literal["mean", "start", "end"] = "mean"
    grid_points: int = Field(default=25, ge=2, le=1000)
    isi_from: Literal["first_dose", "last_dose"] = "first_dose"
    full_contrast: float = Field(default=100.0, gt=0, le=100)
    min_contrast: float = Field(default=5.0, ge=0, le=100)
    power_effect: float = Field(default=-0.20, ge=-5, le=5)
    aggregate_rho: float = Field(default=0.5, ge=0, lt=1)
    sensitivity_models: list[Literal["pkpd", "washout", "emax"]] = Field(
        default_factory=lambda: list(SENSITIVITY_MODELS), max_length=10)
    sensitivity_hysteresis: list[Literal["effect_compartment", "binding_kinetics"]] = Field(
        default_factory=lambda: list(SENSITIVITY_HYSTERESIS), max_length=2)
    sensitivity_half_lives_h: list[Annotated[float, Field(ge=1, le=1000)]] = Field(
        default_factory=lambda: [72.0, 108.0], max_length=10)
    sensitivity_windows: list[Literal["start", "end"]] = Field(default_factory=lambda: ["start", "end"], max_length=2)
    draws: int = Field(default=200, ge=0, le=MAX_DRAWS)
    draws_seed: int = Field(default=2, ge=0, le=MAX_SEED)
    uncertainty_draws: int = Field(default=DEFAULT_UNCERTAINTY_DRAWS, ge=0, le=MAX_UNCERTAINTY_DRAWS)
    uncertainty_seed: int = Field(default=3, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.default_window_h
        if not (0 <= lo <= hi):
            raise ValueError(f"reanalysis.default_window_h: need 0 <= min <= max (got {lo:g}, {hi:g})")
        if self.power_effect == 0:
            raise ValueError("reanalysis.power_effect: must not be 0 (give the effect to detect, e.g. -0.2)")
        if self.draws == 1:
            raise ValueError("reanalysis.draws: must be 0 (none) or >= 2 (got 1)")
        if self.uncertainty_draws == 1:
            raise ValueError("reanalysis.uncertainty_draws: must be 0 (none) or >= 2 (got 1)")
        return self


class ReanalysisScenario(Scenario):
    """A reanalysis scenario: ``[drug]`` (naltrexone), ``[model]``, ``[population]`` and ``[reanalysis]``.

    Dosing comes from the outcome table, so ``[[doses]]`` and ``[[assessments]]`` are not allowed.

    .. code-block:: toml

        task = "reanalyse"
        [drug]
        name = "naltrexone"
        [model]
        name = "pkpd"             # the default; or "washout", "emax"
        hysteresis = "effect_compartment"   # pkpd: or "binding_kinetics"
        [population]
        n = 1000
        seed = 1
        [reanalysis]
        data = "my_outcomes.csv"  # optional; relative to this file; default: the bundled review
        default_window_h = [1.0, 24.0]
        sensitivity_models = ["pkpd", "washout", "emax"]
        draws = 200
        uncertainty_draws = 20    # pkpd: annotations with parameter sets drawn from the fit's uncertainty

    ``[uncertainty]`` is not used: the reanalysis's parameter uncertainty is ``[reanalysis]
    uncertainty_draws`` / ``uncertainty_seed``.
    """

    task: Literal["reanalyse"] = "reanalyse"
    drug: DrugSection = Field(default_factory=lambda: DrugSection(name="naltrexone"))
    doses: list[DoseSection] = Field(default_factory=list)
    population: Optional[PopulationSection] = Field(default_factory=PopulationSection)
    reanalysis: ReanalysisSection = Field(default_factory=ReanalysisSection)

    @model_validator(mode="after")
    def _consistent(self):  # replaces Scenario's dose/assessment checks
        from dataclasses import fields as dc_fields

        from occupancy.models import MODELS, model_class
        from occupancy.simulation.scenario import check_model_section

        if self.drug.name != "naltrexone":
            raise ValueError("drug.name: the reanalysis simulates oral naltrexone (got "
                             f"{self.drug.name!r})")
        if self.doses:
            raise ValueError("doses: not used by a reanalysis (schedules come from the outcome table)")
        if self.assessments:
            raise ValueError("assessments: not used by a reanalysis (windows come from the outcome table)")
        if self.uncertainty is not None:
            raise ValueError("uncertainty: not used by a reanalysis (the parameter uncertainty of the pkpd model is "
                             "[reanalysis] uncertainty_draws and uncertainty_seed)")
        name = self.model.name
        if name is not None and name.strip().lower() not in MODELS["naltrexone"]:
            raise ValueError(f"model.name: unknown model {name!r} for naltrexone "
                             f"(choose {' or '.join(MODELS['naltrexone'])})")
        cls = model_class("naltrexone", name)
        allowed = {f.name for f in dc_fields(cls)}
        for key in self.model.overrides():
            if key not in allowed:
                raise ValueError(f"model.{key}: not a parameter of the {cls.name} model "
                                 f"(parameters: {', '.join(sorted(allowed))})")
        check_model_section("naltrexone", self.model, self.population)
        return self


def scenario_data_path(scenario: ReanalysisScenario | None, scenario_path=None) -> Path | None:
    """The outcome CSV named by ``[reanalysis] data`` (relative paths are relative to the scenario file)."""
    if scenario is None or scenario.reanalysis.data is None:
        return None
    path = Path(scenario.reanalysis.data).expanduser()
    if not path.is_absolute() and scenario_path is not None:
        from occupancy.bundled import resolve_scenario

        path = resolve_scenario(scenario_path).resolve().parent / path
    return path


def load_reanalysis_scenario(path) -> ReanalysisScenario:
    """Read and validate a reanalysis TOML file; problems → one-line :class:`InputError` naming file and field."""
    from occupancy.simulation.scenario import load_scenario

    return load_scenario(path, schema=ReanalysisScenario)


@dataclass(frozen=True)
class ReanalysisSettings:
    """Everything :func:`reanalyse` needs besides the data.

    Parameters
    ----------
    annotation : AnnotationSettings
        Model, overrides, population and window choices of the primary annotation.
    full_contrast : float
        Contrast (pp) the adjusted estimates refer to (100 = 100 % vs 0 % MOR blockade).
    min_contrast : float
        Outcomes/studies with a smaller contrast are left out of the rescaled estimate (warning).
    power_effect : float
        Effect (g) for the per-study power (review: −0.20).
    aggregate_rho : float
        Within-study correlation for aggregating outcome-level data (trim-and-fill, power).
    sensitivity_models : tuple of str
        Models of the one-at-a-time sensitivity (``pkpd``, ``washout``, ``emax``; the base model is skipped).
    sensitivity_hysteresis : tuple of str
        Hysteresis variants of ``pkpd`` in the sensitivity (``effect_compartment``, ``binding_kinetics``; the
        base variant is skipped).
    sensitivity_half_lives_h, sensitivity_windows :
        Blockade half-lives (only for a base model that has one: ``washout``) and window ends.
    draws, draws_seed : int
        Monte Carlo draws of the population parameters (0 = none) and their seed.
    uncertainty_draws, uncertainty_seed : int
        Parameter uncertainty of a ``pkpd`` base model: the outcomes are re-annotated with this many typical-
        subject parameter sets drawn from the calibration's bootstrap
        (:meth:`~occupancy.models.pkpd_base.PKPDModel.parameter_draws`; 0 = none), seeded.
    progress : bool
        Show a tqdm progress bar (stderr) for the draws.
    """

    annotation: AnnotationSettings = field(default_factory=AnnotationSettings)
    full_contrast: float = 100.0
    min_contrast: float = 5.0
    power_effect: float = -0.20
    aggregate_rho: float = 0.5
    sensitivity_models: tuple[str, ...] = SENSITIVITY_MODELS
    sensitivity_hysteresis: tuple[str, ...] = SENSITIVITY_HYSTERESIS
    sensitivity_half_lives_h: tuple[float, ...] = (72.0, 108.0)
    sensitivity_windows: tuple[str, ...] = ("start", "end")
    draws: int = 200
    draws_seed: int = 2
    uncertainty_draws: int = DEFAULT_UNCERTAINTY_DRAWS
    uncertainty_seed: int = 3
    progress: bool = False

    def __post_init__(self) -> None:
        if not (0 < self.full_contrast <= 100):
            raise InputError(f"reanalysis.full_contrast: must be in (0, 100] (got {self.full_contrast})")
        if self.draws < 0 or self.draws == 1 or self.draws > MAX_DRAWS:
            raise InputError(f"reanalysis.draws: must be 0 (none) or from 2 to {MAX_DRAWS} (got {self.draws})")
        if (int(self.uncertainty_draws) != self.uncertainty_draws or self.uncertainty_draws < 0
                or self.uncertainty_draws == 1 or self.uncertainty_draws > MAX_UNCERTAINTY_DRAWS):
            raise InputError(f"reanalysis.uncertainty_draws: must be 0 (none) or from 2 to {MAX_UNCERTAINTY_DRAWS} "
                             f"(got {self.uncertainty_draws})")
        object.__setattr__(self, "sensitivity_models", tuple(self.sensitivity_models))
        object.__setattr__(self, "sensitivity_hysteresis", tuple(self.sensitivity_hysteresis))
        object.__setattr__(self, "sensitivity_half_lives_h", tuple(float(h) for h in self.sensitivity_half_lives_h))
        object.__setattr__(self, "sensitivity_windows", tuple(self.sensitivity_windows))

    def to_dict(self) -> dict:
        """JSON-ready settings."""
        return {"annotation": self.annotation.to_dict(), "full_contrast": self.full_contrast,
                "min_contrast": self.min_contrast, "power_effect": self.power_effect,
                "aggregate_rho": self.aggregate_rho, "sensitivity_models": list(self.sensitivity_models),
                "sensitivity_hysteresis": list(self.sensitivity_hysteresis),
                "sensitivity_half_lives_h": list(self.sensitivity_half_lives_h),
                "sensitivity_windows": list(self.sensitivity_windows), "draws": self.draws,
                "draws_seed": self.draws_seed, "uncertainty_draws": self.uncertainty_draws,
                "uncertainty_seed": self.uncertainty_seed}


def settings_from_scenario(scenario: ReanalysisScenario | None = None, *, model: str | None = None,
                           hysteresis: str | None = None, half_life_h: float | None = None, n: int | None = None,
                           seed: int | None = None, draws: int | None = None, uncertainty_draws: int | None = None,
                           window_point: str | None = None, progress: bool = False) -> ReanalysisSettings:
    """Settings from a scenario (or the defaults), with command-line overrides applied on top.

    A ``model`` (or a pkpd ``hysteresis``) other than the scenario's drops the scenario's ``[model]`` overrides
    and ``[population]`` log-SDs (they belong to its model); the new model's fitted parameters and documented
    variability are used.
    """
    from occupancy.models import DEFAULT_MODEL

    sc = ReanalysisScenario() if scenario is None else scenario
    r = sc.reanalysis
    params = sc.model.overrides()
    name = (sc.model.name or DEFAULT_MODEL["naltrexone"]).strip().lower()
    same_model = True
    if model is not None:
        if model != name:
            params, same_model = {}, False
        name = model
    if hysteresis is not None:
        if name != "pkpd":
            raise InputError(f"--hysteresis: only for the pkpd model (the model is {name})")
        from occupancy.models import model_class

        current = params.get("hysteresis") or model_class("naltrexone", "pkpd").default_hysteresis()
        if hysteresis != current:
            params, same_model = {"hysteresis": hysteresis}, False
    if half_life_h is not None:
        from dataclasses import fields as dc_fields

        from occupancy.models import model_class

        cls = model_class("naltrexone", name)
        if "half_life_h" not in {f.name for f in dc_fields(cls)}:
            raise InputError(f"--half-life: the {cls.name} model has no half-life parameter (the blockade half-life "
                             "is a parameter of the washout model: --model washout)")
        params["half_life_h"] = float(half_life_h)
    pop = sc.population
    variability = sc.variability() if (pop is not None and same_model) else None
    ann = AnnotationSettings(
        model=name, model_params=params,
        n=int(n) if n is not None else (pop.n if pop is not None else 0),
        seed=int(seed) if seed is not None else (pop.seed if pop is not None else 1),
        variability=variability, window_point=window_point or r.window_point, grid_points=r.grid_points,
        isi_from=r.isi_from, default_window_h=(float(r.default_window_h[0]), float(r.default_window_h[1])),
    )
    return ReanalysisSettings(
        annotation=ann, full_contrast=r.full_contrast, min_contrast=r.min_contrast, power_effect=r.power_effect,
        aggregate_rho=r.aggregate_rho, sensitivity_models=tuple(r.sensitivity_models),
        sensitivity_hysteresis=tuple(r.sensitivity_hysteresis),
        sensitivity_half_lives_h=tuple(r.sensitivity_half_lives_h), sensitivity_windows=tuple(r.sensitivity_windows),
        draws=int(draws) if draws is not None else r.draws, draws_seed=r.draws_seed,
        uncertainty_draws=int(uncertainty_draws) if uncertainty_draws is not None else r.uncertainty_draws,
        uncertainty_seed=r.uncertainty_seed, progress=progress,
    )
