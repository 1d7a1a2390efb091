"""``bayes-xmass export pyhf``: one fit's binned model as a pyhf JSON workspace plus its provenance.

:func:`export_pyhf` resolves the fit (model spec, dataset, target, templates) as the fit commands do,
maps it with :func:`bayes_xmass.outputs.pyhf_workspace.pyhf_workspace`, validates the result with
pyhf (schema, then building the model), and writes two files atomically, refusing to replace
either unless ``overwrite``:

- ``<out>``: the workspace (pyhf's schema 1.0.0 allows no extra keys);
- ``<stem>.provenance.json`` beside it: model config, dataset checksum, package versions, the
  coupling scale and power that turn mu back into the coupling, and the mapping table with what is
  and is not exact.

pyhf (the ``export`` extra) is needed only for the validation and is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayes_xmass.errors import InputError
from bayes_xmass.model.targets import FitTarget, fit_targets, target_templates
from bayes_xmass.outputs.pyhf_workspace import PyhfExport, pyhf_workspace
from bayes_xmass.runtime.io import package_versions, write_json
from bayes_xmass.workflows.fit_inputs import FitOptions, load_spec_and_dataset

__all__ = ["export_pyhf", "provenance_path"]


def provenance_path(out: Path | str) -> Path:
    """The provenance sidecar of a workspace file: ``<stem>.provenance.json`` in the same folder."""
    out = Path(out)
    return out.with_name(f"{out.stem}.provenance.json")


def _import_pyhf() -> Any:
    try:
        import pyhf
    except ImportError:
        raise InputError(
            "export pyhf", "", "needs pyhf, which is not installed: pip install 'bayes_xmass[export]'"
        ) from None
    return pyhf


def _target(spec: Any, options: FitOptions) -> FitTarget:
    """The one fit to export; InputError (named after the option) for choices the model does not take."""
    if options.masses and spec.interaction != "b_minus_l":
        raise InputError("command line", "--mass", f"only dark-photon has a mediator mass, not {spec.interaction}")
    if (options.flavours or options.signs) and spec.interaction != "millicharge":
        option = "--flavours" if options.flavours else "--sign"
        raise InputError("command line", option, f"only millicharge takes flavours and signs, not {spec.interaction}")
    targets = fit_targets(spec, flavours=options.flavours, signs=options.signs, masses=options.masses)
    if not targets:
        raise InputError("command line", "--interaction", "the model has no fit to export")
    return targets[0]


def _provenance(
    spec: Any, dataset: Any, target: FitTarget, export: PyhfExport, workspace: Path, pyhf_version: str
) -> dict[str, Any]:
    return {
        "workspace": workspace.name,
        "format": "pyhf JSON workspace, schema 1.0.0",
        "fit": {"label": target.label, "sign": target.sign, "flavours": target.flavours, "mass_MeV": target.mass_mev},
        "poi": export.describe(),
        "model": spec.describe(),
        "dataset": {"name": dataset.name, "checksum": dataset.checksum, "path": str(dataset.path)},
        "likelihood": "Poisson (HistFactory)"
        + ("" if spec.likelihood == "poisson" else f"; NOT the model's {spec.likelihood!r} likelihood"),
        "versions": {**package_versions(), "pyhf": pyhf_version},
        "usage": "pyhf.Workspace(json.load(open(workspace))).model(); mu -> coupling with 'poi.conversion'",
    }


def export_pyhf(options: FitOptions, *, out: Path, overwrite: bool = False, log: Callable[[str], None] = print) -> Path:
    """Write the pyhf workspace of the fit chosen by ``options`` to ``out`` (and its provenance
    sidecar); returns ``out``. InputError for bad options, existing files (without ``overwrite``),
    models HistFactory cannot express (multi-term signals), or pyhf missing."""
    pyhf = _import_pyhf()
    out = Path(out)
    sidecar = provenance_path(out)
    for path in (out, sidecar):  # refuse before any work: nothing is written then
        if path.exists() and not overwrite:
            raise InputError(path, "", "exists; refusing to overwrite (pass --overwrite)")
    spec, dataset = load_spec_and_dataset(options)
    target = _target(spec, options)
    tpl = target_templates(spec, dataset, target)
    export = pyhf_workspace(tpl, sign=target.sign, measurement=target.label, channel=tpl.dataset.name or "xenon")
    workspace = pyhf.Workspace(export.workspace)  # schema validation (raises on a bad spec)
    model = workspace.model()  # the measurement's parameter settings apply
    log(
        f"{target.label}: {len(tpl.background_names)} backgrounds, {tpl.n_bins} bins, "
        f"{model.config.npars} pyhf parameters; POI mu = ({export.coupling_name} / {export.coupling_scale:g})"
        f"^{export.power}"
    )
    if spec.likelihood != "poisson":
        log(f"note: the model's likelihood is {spec.likelihood!r}; HistFactory's is Poisson (exported as Poisson)")
    for comp in export.inexact:
        log(f"note: {comp.status}: {comp.ours} -> {comp.pyhf}: {comp.note}")
    if export.status == "approximate" or spec.likelihood != "poisson":
        log("the workspace is NOT exactly our likelihood (see the notes above and docs/export-pyhf.md)")
    elif export.status == "near-exact":
        log("the workspace is our likelihood up to pyhf's default interpolation codes (notes above)")
    else:
        log("the workspace is exactly our likelihood")
    write_json(sidecar, _provenance(spec, dataset, target, export, out, pyhf.__version__), overwrite=overwrite)
    write_json(out, export.workspace, overwrite=overwrite)
    return out
