"""Model configuration files (``models/*.toml``): parsed and validated into :class:`ModelSpec`.

Every error names the file and the field on one line (InputError).

>>> spec = load_model_spec(BUILTIN_MODELS / "magnetic_moment.toml")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

from bayes_xmass.bundled import models_dir
from bayes_xmass.errors import InputError
from bayes_xmass.model.likelihood import LIKELIHOODS
from bayes_xmass.model.poi_prior import POI_PRIOR_KINDS, PoiPrior
from bayes_xmass.physics.atomic import ATOMIC_MODELS, DEFAULT_M_NU_EV, AtomicModel
from bayes_xmass.physics.interactions import get_interaction
from bayes_xmass.physics.solar import FLUX_SETS
from bayes_xmass.physics.spectra import FLAVOUR_SETS, PhysicsConfig

__all__ = [
    "ADAPTATIONS",
    "BUILTIN_MODELS",
    "SAMPLERS",
    "ModelSpec",
    "SamplerSettings",
    "builtin_model_path",
    "load_model_spec",
    "model_spec_for",
    "parse_model_spec",
]

SAMPLERS = ("nutpie", "pymc")
_ALLOWED = {
    "": {"model", "analysis", "physics", "poi", "sampler"},
    "model": {"interaction", "description"},
    "analysis": {"window_keV", "bin_width_keV", "likelihood", "cl", "flavours", "signs", "masses_MeV"},
    "physics": {"atomic_model", "flux_set", "m_nu_eV", "rrpa_table"},
    "poi": {"scale", "prior"},
    "poi.prior": {"kind", "upper", "power", "floor"},
    "sampler": {"name", "chains", "draws", "tune", "target_accept", "adaptation"},
}


@dataclass(frozen=True)
class SamplerSettings:
    name: str = "nutpie"
    chains: int = 4
    draws: int = 2000
    tune: int = 1000
    target_accept: float = 0.9
    adaptation: str = "diag"  # nutpie mass-matrix adaptation: "diag" (nutpie default) or "low_rank"


ADAPTATIONS = ("low_rank", "diag")


def _adaptation(src: object, s: Mapping[str, Any]) -> str:
    value = s.get("adaptation", "diag")
    if not isinstance(value, str) or value not in ADAPTATIONS:
        raise InputError(src, "sampler.adaptation", f"unknown {value!r}; known: {', '.join(ADAPTATIONS)}")
    return value


@dataclass(frozen=True)
class ModelSpec:
    """One analysis configuration (interaction, window, likelihood, physics, POI prior, sampler)."""

    interaction: str
    description: str
    window_kev: tuple[float, float]
    bin_width_kev: float
    likelihood: str
    cl: float
    physics: PhysicsConfig
    poi_scale: float | None  # coupling unit of x = |coupling| / scale for templates and sampler; None = auto
    # the unit poi_prior's bounds are in: the model file's poi.scale, None = the automatic scale of
    # the fit; not changed by a scale override (--scale), so the prior in physical units stays the
    # model's (model/targets.py: spec_in_template_unit converts it to the templates' unit)
    poi_prior_unit: float | None
    poi_prior: PoiPrior
    sampler: SamplerSettings
    flavours: tuple[str, ...] = ("common",)
    signs: tuple[int, ...] = (1,)
    masses_mev: tuple[float, ...] = ()
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    # analysis settings the user set explicitly ("window_kev", "bin_width_kev"); the others give way
    # to a dataset's own [analysis] choices (model/targets.py: effective_analysis)
    user_analysis: frozenset[str] = frozenset()

    def with_overrides(self, **kw: Any) -> ModelSpec:
        """A copy with fields replaced; a window or bin width set here counts as the user's choice."""
        explicit = {k for k in ("window_kev", "bin_width_kev") if k in kw}
        if explicit:
            kw["user_analysis"] = self.user_analysis | explicit
        return replace(self, **kw)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "interaction": self.interaction,
            "window_keV": list(self.window_kev),
            "bin_width_keV": self.bin_width_kev,
            "likelihood": self.likelihood,
            "cl": self.cl,
            "physics": self.physics.describe(),
            "poi_scale": self.poi_scale or "auto",
            "poi_prior_unit": self.poi_prior_unit or "auto",
            "poi_prior": self.poi_prior.describe(self.poi_prior_unit),
            "sampler": self.sampler.__dict__,
            "flavours": list(self.flavours),
            "signs": list(self.signs),
            "masses_MeV": list(self.masses_mev),
        }


BUILTIN_MODELS = models_dir()  # the bundled models/*.toml


def builtin_model_path(interaction: str) -> Path:
    """The bundled model file of an interaction name or alias (name mapping: physics/interactions.py)."""
    return BUILTIN_MODELS / get_interaction(interaction).model_file


def _check_keys(src: object, table: object, prefix: str) -> None:
    if not isinstance(table, dict):
        raise InputError(src, prefix, "must be a table")
    unknown = set(table) - _ALLOWED[prefix]
    if unknown:
        raise InputError(
            src,
            f"{prefix}.{sorted(unknown)[0]}".lstrip("."),
            f"unknown key; allowed: {', '.join(sorted(_ALLOWED[prefix]))}",
        )


def _num(
    src: object,
    table: Mapping[str, Any],
    key: str,
    prefix: str,
    default: float | None = None,
    *,
    positive: bool = False,
    integer: bool = False,
    lo: float | None = None,
    hi: float | None = None,
) -> Any:
    if key not in table:
        if default is None:
            raise InputError(src, f"{prefix}.{key}", "missing required key")
        return default
    v = table[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise InputError(src, f"{prefix}.{key}", f"must be {'an integer' if integer else 'a number'}, got {v!r}")
    if isinstance(v, int) and abs(v) > 2**63:  # beyond float range / any sensible setting
        raise InputError(src, f"{prefix}.{key}", f"must be finite and of sensible size, got {len(str(abs(v)))} digits")
    if not math.isfinite(v) or (positive and v <= 0) or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = "positive" if positive else f"in [{lo}, {hi}]"
        raise InputError(src, f"{prefix}.{key}", f"must be finite and {rng}, got {v!r}")
    return v


def parse_model_spec(doc: dict[str, Any], src: str) -> ModelSpec:
    """Validate a parsed model TOML document."""
    _check_keys(src, doc, "")
    for key in ("model", "analysis", "poi"):
        if key not in doc:
            raise InputError(src, key, "missing required table")
    for key in ("model", "analysis", "physics", "poi", "sampler"):
        if key in doc:
            _check_keys(src, doc[key], key)
    m, a, ph, poi = doc["model"], doc["analysis"], doc.get("physics", {}), doc["poi"]
    if "interaction" not in m:
        raise InputError(src, "model.interaction", "missing required key")
    try:
        inter = get_interaction(str(m["interaction"]))
    except KeyError as exc:
        raise InputError(src, "model.interaction", exc.args[0]) from None
    window = a.get("window_keV")
    if (
        not isinstance(window, list)
        or len(window) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e300 for v in window)
        or not 0 <= window[0] < window[1]
    ):
        raise InputError(src, "analysis.window_keV", f"must be [lo, hi] keV with 0 <= lo < hi, got {window!r}")
    bin_width = _num(src, a, "bin_width_keV", "analysis", 0.0, lo=0.0, hi=1e4)
    likelihood = a.get("likelihood", "poisson")
    if not isinstance(likelihood, str) or likelihood not in LIKELIHOODS:
        raise InputError(src, "analysis.likelihood", f"unknown {likelihood!r}; known: {', '.join(LIKELIHOODS)}")
    cl = _num(src, a, "cl", "analysis", 0.9, lo=0.5, hi=0.999)
    for key in ("flavours", "signs"):
        if key in a and not isinstance(a[key], list):
            raise InputError(src, f"analysis.{key}", f"must be a list, got {a[key]!r}")
    flavours = tuple(a.get("flavours", ["common"]))
    bad = [f for f in flavours if not isinstance(f, str) or f not in FLAVOUR_SETS]
    if bad or not flavours:
        raise InputError(src, "analysis.flavours", f"unknown {bad}; known: {', '.join(FLAVOUR_SETS)}")
    signs = tuple(a.get("signs", [1]))
    if not signs or any(s not in (1, -1) or isinstance(s, bool) for s in signs):
        raise InputError(src, "analysis.signs", f"must be a list of +1/-1, got {signs!r}")
    masses = a.get("masses_MeV", [])
    if not isinstance(masses, list) or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not (abs(v) < 1e300 and math.isfinite(v) and v >= 0)
        for v in masses
    ):
        raise InputError(src, "analysis.masses_MeV", f"must be a list of masses >= 0 (MeV), got {masses!r}")
    if inter.name == "b_minus_l" and not masses:
        raise InputError(src, "analysis.masses_MeV", "dark-photon models need at least one mass")

    atomic_name = ph.get("atomic_model", "stepping")
    if not isinstance(atomic_name, str) or atomic_name not in ATOMIC_MODELS:
        raise InputError(src, "physics.atomic_model", f"unknown {atomic_name!r}; known: {', '.join(ATOMIC_MODELS)}")
    m_nu = _num(src, ph, "m_nu_eV", "physics", DEFAULT_M_NU_EV, positive=True)
    if atomic_name == "rrpa_table":
        if "rrpa_table" not in ph:
            raise InputError(src, "physics.rrpa_table", "atomic_model = 'rrpa_table' needs rrpa_table = 'file.csv'")
        ref = ph["rrpa_table"]
        if not isinstance(ref, str) or not ref.strip():
            raise InputError(src, "physics.rrpa_table", f"must be a CSV file name (string), got {ref!r}")
        table = Path(src).parent / ref
        if not table.is_file():
            raise InputError(src, "physics.rrpa_table", f"RRPA table '{ref}' not found (looked for {table})")
        atomic = AtomicModel.from_rrpa_csv(table)
    else:
        atomic = AtomicModel(atomic_name, m_nu_ev=m_nu)
    flux = ph.get("flux_set", "B16-GS98")
    if not isinstance(flux, str) or flux not in FLUX_SETS:
        raise InputError(src, "physics.flux_set", f"unknown {flux!r}; known: {', '.join(FLUX_SETS)}")

    scale = poi.get("scale", "auto")
    if scale != "auto":
        scale = _num(src, poi, "scale", "poi", positive=True)
    prior_t = poi.get("prior", {})
    _check_keys(src, prior_t, "poi.prior")
    kind = prior_t.get("kind", "flat_power")
    if not isinstance(kind, str) or kind not in POI_PRIOR_KINDS or kind == "improper":
        raise InputError(
            src,
            "poi.prior.kind",
            f"unknown {kind!r}; known: {', '.join(k for k in POI_PRIOR_KINDS if k != 'improper')}",
        )
    upper = _num(src, prior_t, "upper", "poi.prior", 10.0, positive=True)
    power = _num(src, prior_t, "power", "poi.prior", 2.0, positive=True)
    floor = _num(src, prior_t, "floor", "poi.prior", 1e-3, positive=True)
    if kind == "log_uniform" and floor >= upper:
        raise InputError(src, "poi.prior.floor", "must be below poi.prior.upper")

    s = doc.get("sampler", {})
    name = s.get("name", "nutpie")
    if not isinstance(name, str) or name not in SAMPLERS:
        raise InputError(src, "sampler.name", f"unknown {name!r}; known: {', '.join(SAMPLERS)}")
    sampler = SamplerSettings(
        name,
        _num(src, s, "chains", "sampler", 4, integer=True, lo=1, hi=64),
        _num(src, s, "draws", "sampler", 2000, integer=True, lo=10, hi=10**7),
        _num(src, s, "tune", "sampler", 1000, integer=True, lo=0, hi=10**7),
        _num(src, s, "target_accept", "sampler", 0.9, lo=0.5, hi=0.999),
        _adaptation(src, s),
    )
    return ModelSpec(
        interaction=inter.name,
        description=str(m.get("description", inter.description)),
        window_kev=(float(window[0]), float(window[1])),
        bin_width_kev=float(bin_width),
        likelihood=likelihood,
        cl=float(cl),
        physics=PhysicsConfig(flux_set=flux, atomic=atomic),
        poi_scale=None if scale == "auto" else float(scale),
        poi_prior_unit=None if scale == "auto" else float(scale),
        poi_prior=PoiPrior(kind, float(upper), float(power), float(floor)),
        sampler=sampler,
        flavours=flavours,
        signs=signs,
        masses_mev=tuple(float(v) for v in masses),
        source=src,
        raw=doc,
    )


def load_model_spec(path: str | PathLike[str]) -> ModelSpec:
    """Read and validate a model TOML file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, "file", f"cannot read ({exc.strerror})") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8-sig"))  # a leading BOM (Windows editors) is accepted
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, "toml syntax", str(exc)) from None
    return parse_model_spec(doc, str(path))


def model_spec_for(interaction_or_path: str) -> ModelSpec:
    """A model spec from a TOML path, or the bundled one for an interaction name."""
    p = Path(interaction_or_path)
    if p.suffix == ".toml":
        return load_model_spec(p)
    try:
        return load_model_spec(builtin_model_path(interaction_or_path))
    except KeyError as exc:
        raise InputError("command line", "interaction", exc.args[0]) from None
