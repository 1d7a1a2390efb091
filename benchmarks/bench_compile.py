"""Benchmark: compiling each interaction's PyMC model for nutpie, ours vs nutpie's own; prints figures.

    .venv/bin/python benchmarks/bench_compile.py [--repeat 2]

For every interaction (the model of its first fit on the XMASS-I benchmark, as ``run`` builds it):
seconds of ``nutpie.compile_pymc_model`` and of ``bayes_xmass.runtime.nutpie_compile.compile_for_nutpie``
(each run ``--repeat`` times in this process, alternating; PyTensor's numba cache warm after the
first), and whether 2 chains x 300 draws from both are identical for the same seed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

warnings.simplefilter("ignore")

import numpy as np  # noqa: E402

from bayes_xmass.datasets.loader import (
    DEFAULT_DATASET,  # noqa: E402
    load_dataset,  # noqa: E402
)
from bayes_xmass.infer.posterior_sampler import stored_var_names  # noqa: E402
from bayes_xmass.model.build import build_model  # noqa: E402
from bayes_xmass.model.spec import model_spec_for  # noqa: E402
from bayes_xmass.model.targets import fit_targets, target_templates  # noqa: E402
from bayes_xmass.runtime.nutpie_compile import compile_for_nutpie  # noqa: E402


def _draws(compiled) -> np.ndarray:
    import nutpie

    trace = nutpie.sample(compiled, draws=300, tune=300, chains=2, cores=2, seed=5, progress_bar=False)
    return trace.posterior["x"].values


def main():
    import nutpie

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    ds = load_dataset(DEFAULT_DATASET)
    print(f"load average {os.getloadavg()[0]:.2f}; nutpie {nutpie.__version__}")
    print(f"{'interaction':16s} {'nutpie [s]':>12s} {'ours [s]':>10s} {'ratio':>6s}  same draws")
    for name in ("magnetic-moment", "millicharge", "dark-photon"):
        spec = model_spec_for(name)
        tpl = target_templates(spec, ds, fit_targets(spec)[0])
        model = build_model(tpl, spec.poi_prior, likelihood=spec.likelihood)
        names = stored_var_names(model)
        times = {"nutpie": [], "ours": []}
        compiled = {}
        for _ in range(args.repeat):
            for label, fn in (
                ("nutpie", lambda: nutpie.compile_pymc_model(model, var_names=names)),
                ("ours", lambda: compile_for_nutpie(model, var_names=names)),
            ):
                t0 = time.perf_counter()
                compiled[label] = fn()
                times[label].append(time.perf_counter() - t0)
        same = bool(np.array_equal(_draws(compiled["nutpie"]), _draws(compiled["ours"])))
        a, b = statistics.median(times["nutpie"]), statistics.median(times["ours"])
        print(
            f"{name:16s} {a:12.1f} {b:10.1f} {a / b:6.2f}  {same}   (all: nutpie "
            f"{', '.join(f'{t:.1f}' for t in times['nutpie'])}; ours {', '.join(f'{t:.1f}' for t in times['ours'])})"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
