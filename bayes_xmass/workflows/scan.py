"""A resumable B-L mass scan in an output directory (the ``bayes-xmass scan`` command).

Layout of ``<out>/``:

- ``scan_config.json``  the scan configuration and its hash (written first);
- ``points/m0007.json`` one file per finished mass point (written atomically as it finishes,
  with the config hash), so an interrupted scan loses at most the points in flight;
- ``scan.csv``, ``plots/exclusion.png`` and, last, ``scan.nc`` (dim ``mass``, MeV; couplings g
  dimensionless) built from all points. ``scan.nc`` present = the scan is complete.

Re-running the same configuration on the same directory computes only the missing points; a
different configuration is refused unless ``overwrite`` (which starts afresh).
:func:`run_scan_dir` is the whole command: configuration, resume, per-mass points, final files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.errors import InputError
from bayes_xmass.infer.scan import PointSettings, run_scan, scan_dataset
from bayes_xmass.model.spec import load_model_spec, model_spec_for
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.outputs.csv_tables import scan_csv
from bayes_xmass.outputs.plot_limits import plot_exclusion
from bayes_xmass.outputs.results import results_document, scan_curves, scan_fits
from bayes_xmass.physics.interactions import INTERACTIONS
from bayes_xmass.runtime.executor import describe_scheduler
from bayes_xmass.runtime.io import package_versions, write_json, write_text, write_with
from bayes_xmass.version import __version__
from bayes_xmass.workflows.scan_defaults import DEFAULT_SCAN_TOYS, SCAN_DRAWS, SCAN_TUNE

__all__ = [
    "CONFIG_FILE",
    "FINAL_FILE",
    "ScanDirResult",
    "config_hash",
    "point_path",
    "prepare_scan_dir",
    "provenance_attrs",
    "read_points",
    "run_scan_dir",
    "scan_config",
    "start_fresh",
    "write_final",
    "write_point",
]

CONFIG_FILE = "scan_config.json"
FINAL_FILE = "scan.nc"


def scan_config(spec, dataset, masses, settings) -> dict:
    """Everything the scan results depend on (not the execution backend)."""
    model = spec.describe()
    model.pop("source", None)
    model.pop("masses_MeV", None)
    if settings.poi_prior is None:
        model.pop("sampler", None)
    return {
        "interaction": "b_minus_l",
        "model": model,
        "dataset_checksum": dataset.checksum,
        "masses_MeV": [float(m) for m in masses],
        "seed": settings.seed,
        "n_toys": settings.n_toys,
        "bayesian": settings.poi_prior is not None,
        "cl": settings.cl,
        "sampler": settings.sampler.__dict__ if settings.poi_prior is not None else None,
        "bayes_xmass_version": __version__,
    }


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_scan_dir(out: Path, config: dict, overwrite: bool) -> str:
    """Check ``out`` and return ``"fresh"``, ``"resume"`` or ``"complete"``; raises InputError
    (before anything is written) for a foreign or differently configured directory."""
    out = Path(out)
    h = config_hash(config)
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out", "exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return "fresh"
    cfg_file = out / CONFIG_FILE
    if overwrite:
        return "fresh"
    if not cfg_file.is_file():
        raise InputError(out, "--out", "exists, is not empty and is not a scan directory (pass --overwrite)")
    try:
        old = json.loads(cfg_file.read_text()).get("config_hash")
    except (OSError, ValueError, AttributeError):
        old = None
    if old != h:
        raise InputError(
            cfg_file,
            "config_hash",
            f"the scan in {out} has a different configuration ({old} vs {h}); "
            "use another --out or pass --overwrite to start afresh",
        )
    return "complete" if (out / FINAL_FILE).is_file() else "resume"


def start_fresh(out: Path, config: dict) -> None:
    """Remove a previous scan's files (only ours) and write the configuration."""
    out = Path(out)
    (out / FINAL_FILE).unlink(missing_ok=True)  # the completion marker goes first
    for f in list((out / "points").glob("*.json")) + list((out / "points").glob(".*.part")):
        f.unlink()
    write_json(out / CONFIG_FILE, {"config_hash": config_hash(config), "config": config}, overwrite=True)
    (out / "points").mkdir(parents=True, exist_ok=True)


def point_path(out: Path, index: int) -> Path:
    return Path(out) / "points" / f"m{index:04d}.json"


def write_point(out: Path, h: str, index: int, row: dict) -> Path:
    """Persist one finished mass point atomically."""
    return write_json(point_path(out, index), {"config_hash": h, "index": index, "row": row}, overwrite=True)


def read_points(out: Path, h: str, masses) -> dict[int, dict]:
    """Finished points of this configuration (index -> row); stale temporaries removed, unreadable
    or foreign point files ignored (they are recomputed)."""
    points = Path(out) / "points"
    for tmp in points.glob(".*.part"):  # left by a killed writer; never looks like a point
        tmp.unlink(missing_ok=True)
    done = {}
    for i, m in enumerate(masses):
        p = point_path(out, i)
        try:
            doc = json.loads(p.read_text())
            row = {k: (float(v) if isinstance(v, str) else v) for k, v in doc["row"].items()}
            if doc["config_hash"] == h and doc["index"] == i and np.isclose(row["mass"], m, rtol=1e-12, atol=0):
                done[i] = row
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return done


def write_final(out: Path, ds, config: dict, *, published: dict, cl: float, results: dict | None = None) -> dict:
    """scan.csv, plots/exclusion.png, limits.json (``results``: the results-schema document), then
    scan.nc (the completion marker), all atomic."""
    out = Path(out)
    header = [
        f"bayes_xmass B-L scan, config {config_hash(config)}: couplings g (dimensionless), mass in MeV",
        f"dataset checksum {config['dataset_checksum']}, seed {config['seed']}, cl {cl}, "
        f"{config['n_toys']} toys per mass (expected_* = frequentist Delta chi2 = 2.71 bands)",
    ]
    text = scan_csv(ds.drop_vars("seconds", errors="ignore"), header)
    csv = write_text(out / "scan.csv", text, overwrite=True)
    expected = None
    if "expected_median" in ds:
        expected = (ds["expected_m1"].values, ds["expected_median"].values, ds["expected_p1"].values)
    flagged = ~ds["diagnostics_ok"].values.astype(bool) if "diagnostics_ok" in ds else None
    plot = plot_exclusion(
        ds["mass"].values,
        ds["bayes"].values if "bayes" in ds else None,
        ds["freq_xmass"].values,
        published=published,
        cl=cl,
        expected=expected,
        flagged=flagged,
        out=out / "plots" / "exclusion.png",
        overwrite=True,
    )
    files = {"csv": csv, "plot": plot}
    if results is not None:
        files["limits"] = write_json(out / "limits.json", results, overwrite=True)
    files["netcdf"] = write_with(out / FINAL_FILE, lambda p: ds.to_netcdf(p), overwrite=True)
    return files


def provenance_attrs(config: dict, dataset, backend: str, n_resumed: int, seconds: float) -> dict:
    """NetCDF attributes: configuration, dataset, versions (JSON strings)."""
    return {
        "config_hash": config_hash(config),
        "config": json.dumps(config, sort_keys=True, default=str),
        "dataset": json.dumps(dataset.summary(), sort_keys=True, default=str),
        "package_versions": json.dumps(package_versions(), sort_keys=True),
        "cl": config["cl"],
        "seed": config["seed"],
        "n_toys": config["n_toys"],
        "backend": backend,
        "points_resumed": n_resumed,
        "seconds": round(seconds, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@dataclass(frozen=True)
class ScanDirResult:
    """What :func:`run_scan_dir` did: ``state`` "complete" (nothing to do) or "done"; ``files`` the
    final outputs; ``new_seconds`` the wall time (s) of each point computed now; ``flagged_masses``
    (MeV) whose diagnostics failed."""

    state: str
    out: Path
    config_hash: str
    n_masses: int
    files: dict = dataclasses.field(default_factory=dict)
    new_seconds: tuple = ()
    seconds: float = 0.0
    flagged_masses: tuple = ()


def run_scan_dir(
    masses,
    *,
    out: Path,
    dataset: Path | None = None,
    model: Path | None = None,
    seed: int = 20201,
    toys: int = DEFAULT_SCAN_TOYS,
    bayesian: bool = True,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    processes: int | None = None,
    overwrite: bool = False,
    log=print,
) -> ScanDirResult:
    """The resumable B-L scan over ``masses`` (MeV) into ``out`` (see the module docstring).

    ``model``: a model TOML (default: the bundled dark-photon model); ``draws``/``tune``/``chains``:
    NUTS per chain and mass (default SCAN_DRAWS/SCAN_TUNE, the model's chains); ``processes``: local
    worker processes (default 1 for Bayesian scans, else the core count for large toy scans).
    Raises InputError before anything is written (wrong model, foreign directory)."""
    spec = load_model_spec(model) if model else model_spec_for("dark-photon")
    if spec.interaction != "b_minus_l":
        raise InputError(model, "model.interaction", f"scan needs b_minus_l, got {spec.interaction}")
    sampler = dataclasses.replace(
        spec.sampler,
        name="nutpie",
        draws=draws or SCAN_DRAWS,
        tune=SCAN_TUNE if tune is None else tune,
        chains=chains or spec.sampler.chains,
    )
    data = load_dataset(dataset or DEFAULT_DATASET)
    settings = PointSettings(spec.cl, spec.likelihood, spec.poi_prior if bayesian else None, sampler, toys, seed)
    config = scan_config(spec, data, masses, settings)
    h = config_hash(config)
    state = prepare_scan_dir(out, config, overwrite)  # raises before writing anything
    out = Path(out)
    if state == "complete":
        return ScanDirResult("complete", out, h, masses.size)
    if state == "fresh":
        start_fresh(out, config)
    done = read_points(out, h, masses)
    processes = processes or (1 if bayesian or toys * (masses.size - len(done)) < 200 else os.cpu_count() or 1)
    backend = describe_scheduler(None, processes)
    log(
        f"bayes-xmass scan: {masses.size} masses {masses[0]:.3g}-{masses[-1]:.3g} MeV, "
        f"{'frequentist only' if not bayesian else 'Bayesian + frequentist'}, {toys} toys/mass, "
        f"{backend}, config {h}, out {out}"
    )
    started = time.perf_counter()
    run_scan(
        spec,
        data,
        masses,
        settings,
        done=done,
        processes=processes,
        on_point=lambda i, row: write_point(out, h, i, row),
        log=log,
    )
    points = read_points(out, h, masses)  # the final result is built from the persisted points
    if len(points) != masses.size:
        raise RuntimeError(f"{masses.size - len(points)} scan points missing after the scan")
    rows = [points[i] for i in range(masses.size)]
    attrs = provenance_attrs(config, data, backend, len(done), time.perf_counter() - started)
    ds = scan_dataset(masses, rows, attrs)
    results = results_document(
        "scan",
        cl=spec.cl,
        provenance={
            "seed": seed,
            "model_config": spec.describe(),
            "scan_config": config,
            "package_versions": package_versions(),
            "created": attrs["created"],
            "backend": backend,
            "points_resumed": len(done),
        },
        fits=scan_fits(ds, [FitTarget("b_minus_l", 1, None, float(m)).label for m in masses]),
        datasets={data.name: data},
        exclusion_curves=scan_curves(ds, dataset=data.name, cl=spec.cl),
    )
    files = write_final(
        out, ds, config, published=INTERACTIONS["b_minus_l"].published_limits, cl=spec.cl, results=results
    )
    n = masses.size
    flags = ds["diagnostics_ok"].values if "diagnostics_ok" in ds else np.ones(n, dtype=bool)
    return ScanDirResult(
        "done",
        out,
        h,
        n,
        files,
        tuple(points[i]["seconds"] for i in range(n) if i not in done),
        time.perf_counter() - started,
        tuple(float(m) for m, ok in zip(masses, flags) if not ok),
    )
