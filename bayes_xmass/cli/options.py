"""Option groups shared by several commands, and what they turn into.

- :func:`add_physics_options` (``spectra``) and :func:`physics_config` (-> PhysicsConfig);
- :func:`add_fit_options` (``sample``, ``limit``, ``compare``, ``combine``) and :func:`fit_options`
  (-> :class:`bayes_xmass.workflows.fit_inputs.FitOptions`);
- :func:`add_sampler_options` (NUTS settings of ``sample`` and ``combine``);
- :func:`add_execution_options` (``--scheduler``, ``--no-cache``) and :func:`execution_env`, which
  exports them to the environment for the duration of a command.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from bayes_xmass.errors import InputError
from bayes_xmass.model.likelihood import LIKELIHOODS
from bayes_xmass.model.poi_prior import POI_PRIOR_KINDS
from bayes_xmass.physics.atomic import ATOMIC_MODELS, DEFAULT_M_NU_EV, AtomicModel
from bayes_xmass.physics.solar import DEFAULT_FLUX_SET, FLUX_SETS

__all__ = [
    "add_execution_options",
    "add_fit_options",
    "add_physics_options",
    "add_sampler_options",
    "execution_env",
    "fit_options",
    "physics_config",
]


def add_physics_options(p) -> None:
    """``--flux-set``, ``--atomic``, ``--m-nu`` and ``--rrpa-table``."""
    g = p.add_argument_group("physics")
    g.add_argument("--flux-set", default=DEFAULT_FLUX_SET, choices=list(FLUX_SETS))
    g.add_argument(
        "--atomic",
        default="stepping",
        choices=[m for m in ATOMIC_MODELS if m != "rrpa_table"],
        help="atomic model (default: stepping)",
    )
    g.add_argument(
        "--m-nu", type=float, default=DEFAULT_M_NU_EV, help="EPA neutrino-mass regulator in eV (stepping+epa only)"
    )
    g.add_argument("--rrpa-table", type=Path, default=None, help="CSV energy_keV,ratio_to_free; overrides --atomic")


def physics_config(args):
    """The PhysicsConfig of the physics options (InputError for a bad ``--m-nu``)."""
    from bayes_xmass.physics.spectra import PhysicsConfig  # lazy: spectra only

    if getattr(args, "rrpa_table", None):
        atomic = AtomicModel.from_rrpa_csv(args.rrpa_table)
    else:
        try:
            atomic = AtomicModel(args.atomic, m_nu_ev=args.m_nu)
        except ValueError as exc:
            raise InputError("command line", "--m-nu", str(exc)) from None
    return PhysicsConfig(flux_set=args.flux_set, atomic=atomic)


def add_sampler_options(p, diagnostics_help: str) -> None:
    """NUTS implementation, draws/tune/chains, progress bar and the diagnostics override."""
    p.add_argument("--sampler", choices=["nutpie", "pymc"], default=None, help="NUTS implementation")
    p.add_argument("--draws", type=int, default=None)
    p.add_argument("--tune", type=int, default=None)
    p.add_argument("--chains", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="hide the sampler progress bar")
    p.add_argument("--allow-bad-diagnostics", action="store_true", help=diagnostics_help)


def add_fit_options(p, out_required: bool = True) -> None:
    """The interaction (or model TOML), dataset, targets, prior/likelihood/window overrides, seed, run directory."""
    p.add_argument("interaction", help="magnetic-moment, millicharge, dark-photon, or a model TOML file")
    p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
    p.add_argument(
        "--mass",
        type=float,
        action="append",
        default=None,
        help="dark-photon mediator mass in MeV (repeatable; default: the model's list)",
    )
    p.add_argument(
        "--flavours",
        action="append",
        choices=["common", "e", "mu", "tau"],
        default=None,
        help="millicharge flavour set (repeatable; default: the model's list)",
    )
    p.add_argument(
        "--sign",
        type=int,
        action="append",
        choices=[1, -1],
        default=None,
        help="millicharge sign (repeatable; default: both)",
    )
    p.add_argument(
        "--prior",
        choices=[k for k in POI_PRIOR_KINDS if k != "improper"],
        default=None,
        help="POI prior kind (default: the model TOML's)",
    )
    p.add_argument(
        "--prior-upper",
        type=float,
        default=None,
        help="POI prior upper bound in units of the model file's poi.scale (or, for scale = 'auto', of the "
        "automatic data-sensitivity scale); --scale does not change it",
    )
    p.add_argument("--prior-power", type=float, default=None, help="power for the flat_power prior")
    p.add_argument("--likelihood", choices=list(LIKELIHOODS), default=None)
    p.add_argument(
        "--window",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        default=None,
        help="analysis window in keV (default: the model's, clipped to the data)",
    )
    p.add_argument(
        "--bin-width",
        type=float,
        default=None,
        help="merge dataset bins finer than this (keV); 0 keeps the dataset's bins",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="coupling unit for the sampler (e.g. 1e-11 for mu_nu at XENON1T); default: the model's. "
        "The POI prior in physical units stays the model's",
    )
    p.add_argument("--seed", type=int, default=20201, help="random seed (recorded)")
    p.add_argument("--out", type=Path, required=out_required, default=None, help="run directory to create")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty run directory")


def fit_options(args):
    """The FitOptions of :func:`add_fit_options` (and the sampler options, where the command has them)."""
    from bayes_xmass.workflows.fit_inputs import FitOptions  # lazy: fast --help and error paths

    def listed(values):
        return None if values is None else tuple(values)

    return FitOptions(
        interaction=args.interaction,
        dataset=args.dataset,
        masses=listed(args.mass),
        flavours=listed(args.flavours),
        signs=listed(args.sign),
        prior=args.prior,
        prior_upper=args.prior_upper,
        prior_power=args.prior_power,
        likelihood=args.likelihood,
        window=listed(args.window),
        bin_width=args.bin_width,
        scale=args.scale,
        sampler=getattr(args, "sampler", None),
        draws=getattr(args, "draws", None),
        tune=getattr(args, "tune", None),
        chains=getattr(args, "chains", None),
    )


def add_execution_options(p) -> None:
    """``--scheduler`` and ``--no-cache`` for a subcommand."""
    g = p.add_argument_group("execution")
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run toys/scan points on a dask.distributed scheduler (tcp://host:8786, or "
        "'local-cluster'); default: $BAYES_XMASS_SCHEDULER, else local processes",
    )
    g.add_argument(
        "--no-cache",
        action="store_true",
        help="do not read or write the on-disk template cache ($BAYES_XMASS_CACHE, default ~/.cache/bayes_xmass)",
    )


@contextmanager
def execution_env(args):
    """Export the execution options to the environment (read by executor/cache, inherited by worker
    processes) for the duration of a command; restored afterwards."""
    # lazy: the runtime modules are needed only once a command runs (fast --help); graph_cache is
    # imported inside the exported environment, as it always was
    from bayes_xmass.runtime.cache import NO_CACHE_ENV
    from bayes_xmass.runtime.executor import SCHEDULER_ENV, check_scheduler
    from bayes_xmass.runtime.worker_process import environment, single_threaded_blas

    scheduler = getattr(args, "scheduler", None)
    if scheduler is not None and not scheduler.strip():
        raise InputError("command line", "--scheduler", "empty address")
    values = {NO_CACHE_ENV: "1"} if getattr(args, "no_cache", False) else {}
    if scheduler is not None:
        check_scheduler(scheduler)  # before the command writes anything
        values[SCHEDULER_ENV] = scheduler
    # small fits: one BLAS thread is ~10x faster and reproducible
    with environment(values), single_threaded_blas():
        from bayes_xmass.runtime.graph_cache import enable

        enable()  # rewritten PyTensor graphs from the on-disk cache (unless --no-cache)
        yield
