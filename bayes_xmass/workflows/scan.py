"""A resumable B-L mass scan in an output directory (the ``bayes-xmass scan`` command).

Layout of ``<out>/``:

- ``scan_config.json``  the scan configuration and its hash (written first);
- ``points/m0007.json`` one file per finished mass point (written atomically as it finishes,
  with the config hash), so an interrupted scan loses at most the points in flight;
- ``scan.csv``, ``plots/exclusion.png`` and, last, ``scan.nc`` (dim ``mass``, MeV; couplings g
  dimensionless) built from all points. ``scan.nc`` present = the scan is complete.

Re-running the same configuration on the same directory computes only the missing points; a
different configuration is refused unless ``overwrite`` (which starts afresh).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from bayes_xmass.errors import InputError
from bayes_xmass.runtime.io import package_versions, write_json, write_text, write_with

CONFIG_FILE = "scan_config.json"
FINAL_FILE = "scan.nc"


def scan_config(spec, dataset, masses, settings) -> dict:
    """Everything the scan results depend on (not the execution backend)."""
    model = spec.describe()
    model.pop("source", None)
    model.pop("masses_MeV", None)
    if settings.poi_prior is None:
        model.pop("sampler", None)
    from bayes_xmass.version import __version__

    return {"interaction": "b_minus_l", "model": model, "dataset_checksum": dataset.checksum,
            "masses_MeV": [float(m) for m in masses], "seed": settings.seed, "n_toys": settings.n_toys,
            "bayesian": settings.poi_prior is not None, "cl": settings.cl,
            "sampler": settings.sampler.__dict__ if settings.poi_prior is not None else None,
            "bayes_xmass_version": __version__}


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
        raise InputError(cfg_file, "config_hash", f"the scan in {out} has a different configuration ({old} vs {h}); "
                                                  "use another --out or pass --overwrite to start afresh")
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


def write_final(out: Path, ds, config: dict, *, published: dict, cl: float) -> dict:
    """scan.csv, plots/exclusion.png, then scan.nc (the completion marker), all atomic."""
    from bayes_xmass.outputs.plots import plot_exclusion

    out = Path(out)
    header = [f"# bayes_xmass B-L scan, config {config_hash(config)}: couplings g (dimensionless), mass in MeV",
              f"# dataset checksum {config['dataset_checksum']}, seed {config['seed']}, cl {cl}, "
              f"{config['n_toys']} toys per mass (expected_* = frequentist Delta chi2 = 2.71 bands)"]
    text = "\n".join(header) + "\n" + ds.drop_vars("seconds", errors="ignore").to_dataframe().to_csv()
    csv = write_text(out / "scan.csv", text, overwrite=True)
    expected = None
    if "expected_median" in ds:
        expected = (ds["expected_m1"].values, ds["expected_median"].values, ds["expected_p1"].values)
    flagged = ~ds["diagnostics_ok"].values.astype(bool) if "diagnostics_ok" in ds else None
    plot = plot_exclusion(ds["mass"].values, ds["bayes"].values if "bayes" in ds else None,
                          ds["freq_xmass"].values, published=published, cl=cl, expected=expected, flagged=flagged,
                          out=out / "plots" / "exclusion.png", overwrite=True)
    nc = write_with(out / FINAL_FILE, lambda p: ds.to_netcdf(p), overwrite=True)
    return {"netcdf": nc, "csv": csv, "plot": plot}


def provenance_attrs(config: dict, dataset, backend: str, n_resumed: int, seconds: float) -> dict:
    """NetCDF attributes: configuration, dataset, versions (JSON strings)."""
    return {"config_hash": config_hash(config), "config": json.dumps(config, sort_keys=True, default=str),
            "dataset": json.dumps(dataset.summary(), sort_keys=True, default=str),
            "package_versions": json.dumps(package_versions(), sort_keys=True), "cl": config["cl"],
            "seed": config["seed"], "n_toys": config["n_toys"], "backend": backend,
            "points_resumed": n_resumed, "seconds": round(seconds, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
