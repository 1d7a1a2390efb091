"""The README's *Use from Python* example runs as written, and the public API is what it says."""

from __future__ import annotations

import re
from pathlib import Path

import bayes_xmass
from bayes_xmass.cli.main import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_block(title: str = "## Use from Python") -> str:
    text = README.read_text()
    section = text[text.index(title) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_public_api_names_resolve():
    for name in bayes_xmass.__all__:
        assert getattr(bayes_xmass, name) is not None, name
    assert {
        "load_dataset",
        "model_spec_for",
        "sample_posterior",
        "credible_limit",
        "ProfileLikelihood",
        "open_run",
        "sample_combined",
    } <= set(bayes_xmass.__all__)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    assert main(["sample", "magnetic-moment", "--out", str(tmp_path / "results")]) == 0
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    exec(compile(readme_python_block(), str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    limits = [float(v) for v in re.findall(r"limit: ([0-9.e+-]+) mu_B", out)]
    assert len(limits) == 2 and all(3e-11 < v < 2e-10 for v in limits), out  # benchmark: ~7.7e-11 mu_B
    assert "diagnostics: ok" in out and "['magnetic_moment']" in out
