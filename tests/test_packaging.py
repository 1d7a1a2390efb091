"""The package as a user installs it: a wheel, outside the source tree.

The wheel is built from a copy of the committed sources, installed (without dependencies, which the
test environment already has) into a private folder, and used from another directory: the model
files and the bundled benchmark must come from inside the installed package (importlib.resources),
and ``python -m bayes_xmass run --quick`` must finish.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("bayes_xmass", "models", "data")
SOURCE_FILES = ("pyproject.toml", "README.md")


def copy_sources(dest: Path) -> Path:
    """The package's sources (links kept as links) without caches or build leftovers."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCE_DIRS:
        shutil.copytree(REPO_ROOT / name, dest / name, symlinks=True, ignore=ignore)
    for name in SOURCE_FILES:
        shutil.copy2(REPO_ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Folder holding bayes_xmass installed from a freshly built wheel."""
    root = tmp_path_factory.mktemp("wheel")
    src = copy_sources(root / "src")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(root / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (root / "dist").glob("bayes_xmass-*.whl")
    target = root / "site"
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert inst.returncode == 0, inst.stderr[-2000:]
    return target


def run_installed(site: Path, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONNOUSERSITE="1")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_wheel_carries_models_and_benchmark(installed, tmp_path):
    probe = (
        "import json, bayes_xmass; from bayes_xmass.bundled import models_dir, default_dataset; "
        "print(json.dumps([bayes_xmass.__file__, str(models_dir()), str(default_dataset())]))"
    )
    res = run_installed(installed, tmp_path, "-c", probe)
    assert res.returncode == 0, res.stderr
    package_file, models, dataset = map(Path, json.loads(res.stdout))
    for path in (package_file, models, dataset):
        assert path.resolve().is_relative_to(installed.resolve()), f"{path} is not from the installed wheel"
    assert sorted(p.name for p in models.glob("*.toml")) == [
        "dark_photon.toml",
        "magnetic_moment.toml",
        "millicharge.toml",
    ]
    assert (dataset / "dataset.toml").is_file() and (dataset / "observed.csv").is_file()
    assert not (models / "magnetic_moment.toml").is_symlink()


def test_installed_wheel_runs_the_quick_analysis(installed, tmp_path):
    out = tmp_path / "quick"
    res = run_installed(installed, tmp_path, "-m", "bayes_xmass", "run", "--quick", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    limits = json.loads((out / "limits.json").read_text())
    assert {f["fit"] for f in limits["fits"]} >= {"magnetic_moment", "b_minus_l_M10MeV"}
    assert (out / "report.html").is_file() and (out / "summary.md").is_file()
    assert all(f["bayes"]["limit"] > 0 for f in limits["fits"])
