"""Benchmark: build every basis spectrum on a 0.05-keV grid 0.5-250 keV, and a B-L mass grid.

Prints wall time and peak traced memory (tracemalloc: numpy buffers included). Run:
    .venv/bin/python benchmarks/bench_spectra.py
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from bayes_xmass.physics import spectra
from bayes_xmass.physics.atomic import AtomicModel
from bayes_xmass.physics.spectra import PhysicsConfig, b_minus_l_mass_grid, basis_spectra, sm_rate


def measure(label, fn, repeat=3):
    times = []
    peak = 0
    for _ in range(repeat):
        spectra._flux_moments_cached.cache_clear()  # cold: include the flux integrals
        tracemalloc.start()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    print(f"{label:58s} {min(times) * 1e3:9.1f} ms (best of {repeat})  peak {peak / 2**20:7.1f} MiB")


def main():
    t = np.arange(0.5, 250.0 + 1e-9, 0.05)
    print(f"recoil grid: {t.size} points, 0.5-250 keV step 0.05 keV")
    for atomic in ("stepping", "stepping+epa"):
        cfg = PhysicsConfig(atomic=AtomicModel(atomic))

        def everything(cfg=cfg):
            sm_rate(t, cfg)
            basis_spectra("magnetic_moment", t, cfg)
            for f in ("common", "e", "mu", "tau"):
                basis_spectra("millicharge", t, cfg, flavours=f)
            basis_spectra("b_minus_l", t, cfg, mass_mev=1e-3)
            basis_spectra("b_minus_l", t, cfg, mass_mev=10.0)

        measure(f"all basis spectra + SM ({atomic})", everything)
    cfg = PhysicsConfig()
    masses = np.geomspace(1e-3, 10.0, 50)
    measure("B-L basis terms for 50 masses (one vectorised pass)", lambda: b_minus_l_mass_grid(t, masses, cfg))
    sm_rate(t, cfg)
    t0 = time.perf_counter()
    b_minus_l_mass_grid(t, masses, cfg)
    print(f"{'B-L 50 masses, flux moments cached (warm)':58s} {(time.perf_counter() - t0) * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
