"""Cost of the dominant-mode chain starts and the posterior-vs-profile check, per fit.

For each fit of the benchmark (observed data, model TOML settings), prints the one-off compile of the
profile likelihood and its batched twin, the mode search + Laplace approximation (``plan``), the
check after sampling, and one NUTS run with either kind of start (median of ``--repeat`` runs).

    python benchmarks/bench_chain_starts.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.model.data import model_data
from bayes_xmass.model.poi_prior import poi_prior_data
from bayes_xmass.validation.setup import posterior_sampler_for, validation_setup

FITS = {
    "magnetic moment": ("magnetic-moment", {}),
    "millicharge, common, q<0": ("millicharge", {"sign": -1}),
    "B-L, 1 keV": ("dark-photon", {"mass_mev": 0.001}),
    "B-L, 10 MeV": ("dark-photon", {"mass_mev": 10.0}),
}


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    dataset = load_dataset(DEFAULT_DATASET)
    print(
        "| fit | PL + batch compile (s, once per structure) | mode search (ms) | check (ms) "
        "| NUTS, mode starts (s) | NUTS, prior starts (s) |"
    )
    print("|---|---|---|---|---|---|")
    for label, (interaction, kw) in FITS.items():
        spec, target, tpl = validation_setup(interaction, dataset, **kw)
        ps = posterior_sampler_for(tpl, spec.poi_prior, spec.likelihood)
        data = ps._with_derived({**model_data(tpl, target.sign, spec.likelihood), **poi_prior_data(spec.poi_prior)})
        ps._set_data(data)
        t = time.perf_counter()
        ms = ps._mode_starts()
        compile_s = time.perf_counter() - t
        plan_s = _median_seconds(lambda: ps._starts(data), args.repeat)
        plan, _ = ps._starts(data)
        check_s = _median_seconds(lambda: ms.check(data, plan, np.array([plan.mode.x, plan.mode.x])), args.repeat)
        sampler = spec.sampler
        mode_s = _median_seconds(lambda: ps.draw_posterior(data, sampler, 1), args.repeat)
        prior_ps = ps.with_chain_starts("prior")
        prior_s = _median_seconds(lambda: prior_ps.draw_posterior(data, sampler, 1), args.repeat)
        print(
            f"| {label} | {compile_s:.1f} | {plan_s * 1e3:.0f} | {check_s * 1e3:.0f} | {mode_s:.2f} | {prior_s:.2f} |"
        )


if __name__ == "__main__":
    main()
