"""``bayes-xmass export hepdata``: a finished run directory as a validated HEPData submission folder.

:func:`export_hepdata` reads the run's ``limits.json`` (:func:`bayes_xmass.outputs.run_reader.open_run`;
it must follow the results schema, docs/results-schema.md), builds the tables with
:mod:`bayes_xmass.outputs.hepdata_submission`, and writes them with ``hepdata_lib`` into a temporary
folder beside ``out``; the run's ``limits.json`` is attached as an additional resource. The folder
and the ``submission.tar.gz`` archive made from it are checked with hepdata-validator
(``FullSubmissionValidator``, offline) before the folder is renamed to ``out``. So ``out`` appears
whole or not at all, and a submission that HEPData would reject is never left behind.

``out`` then holds ``submission/`` (``submission.yaml``, one YAML file per table, ``limits.json``)
and ``submission.tar.gz`` (the same files, the one to upload); both re-validate by hand
(``hepdata-validate -d out/submission``, ``hepdata-validate -a out/submission.tar.gz``). An existing
``out`` is replaced only with ``overwrite``, and only if it is empty or a previous export (holds
``submission/submission.yaml``).

``hepdata_lib`` and ``hepdata_validator`` (the ``export`` extra) are imported here, on use.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayes_xmass.errors import InputError
from bayes_xmass.outputs.hepdata_submission import hepdata_tables, submission_metadata
from bayes_xmass.outputs.results import SCHEMA_NAME, SCHEMA_VERSION
from bayes_xmass.outputs.run_reader import open_run
from bayes_xmass.runtime.io import check_out_dir, write_error

__all__ = ["ARCHIVE", "FOLDER", "export_hepdata", "validation_errors"]

ARCHIVE = "submission.tar.gz"
FOLDER = "submission"  # the YAML files, inside ``out``
_SUMMARY = re.compile(r"is invalid (HEPData YAML|against schema)")  # the validator's one-line verdict per file


def _import_hepdata() -> tuple[Any, Any]:
    try:
        import hepdata_lib
        from hepdata_validator.full_submission_validator import FullSubmissionValidator
    except ImportError:
        raise InputError(
            "export hepdata",
            "",
            "needs hepdata_lib and hepdata-validator, which are not installed: pip install 'bayes_xmass[export]'",
        ) from None
    return hepdata_lib, FullSubmissionValidator


def validation_errors(validator_cls: Any, *, directory: Path | None = None, archive: Path | None = None) -> list[str]:
    """hepdata-validator's messages (``<file>: <message>``) for a submission folder or archive, the
    specific errors first (then the summaries "... is invalid HEPData YAML", then hints); empty when valid."""
    validator = validator_cls()
    valid = validator.validate(
        directory=None if directory is None else str(directory), archive=None if archive is None else str(archive)
    )
    prefix = "" if directory is None else str(directory).rstrip("/") + "/"
    found: list[tuple[int, str]] = []
    for file, messages in validator.get_messages().items():
        name = str(file).removeprefix(prefix) or "."
        for m in messages:
            text = str(m.message).replace(prefix, "")
            rank = 2 if getattr(m, "level", "error") != "error" else int(_SUMMARY.search(text) is not None)
            found.append((rank, f"{name}: {text}"))
    out = [text for _, text in sorted(found, key=lambda f: f[0])]
    return out if out or valid else ["invalid (hepdata-validator gave no reason)"]


def _check_replaceable(out: Path, overwrite: bool) -> None:
    check_out_dir(out, overwrite)  # a file, or non-empty without overwrite: InputError
    if out.is_dir() and any(out.iterdir()) and not (out / FOLDER / "submission.yaml").is_file():
        raise InputError(
            out,
            "--out",
            f"is not empty and not a previous HEPData export (no {FOLDER}/submission.yaml); refusing to replace it",
        )


def _write(lib: Any, doc: dict[str, Any], limits_file: Path, build: Path, scratch: Path) -> int:
    """Write the submission folder ``build``; the archive lands in ``scratch``. Returns the number of tables."""
    meta = submission_metadata(doc)
    submission = lib.Submission()
    submission.comment = meta.comment
    tables = hepdata_tables(doc)
    for table in tables:
        submission.add_table(table)
    submission.add_additional_resource(meta.limits_json_description, str(limits_file), copy_file=True)
    with contextlib.chdir(scratch):  # hepdata_lib writes the archive into the working directory
        submission.create_files(str(build), validate=False)
    return len(tables)


def _move_into_place(build: Path, out: Path) -> None:
    """Rename ``build`` to ``out``; an existing (checked) ``out`` is swapped out first and removed after."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(build, out)
    except OSError:
        if old is not None:
            os.replace(old / out.name, out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def export_hepdata(run_dir: Path, *, out: Path, overwrite: bool = False, log: Callable[[str], None] = print) -> Path:
    """Write the HEPData submission of the finished run ``run_dir`` into the folder ``out``; returns
    ``out``. InputError (one line) when the export extra is missing, the run directory is missing or
    its ``limits.json`` does not follow the results schema, ``out`` exists (without ``overwrite``),
    or hepdata-validator rejects the submission (its first message)."""
    lib, validator_cls = _import_hepdata()
    run = open_run(run_dir)
    limits_file = Path(run.path) / "limits.json"
    doc = run.limits
    if doc.get("schema") != SCHEMA_NAME or doc.get("schema_version") != SCHEMA_VERSION:
        raise InputError(
            limits_file,
            "schema",
            f"not the results schema {SCHEMA_VERSION} ({SCHEMA_NAME}); re-run the command with this version",
        )
    out = Path(out)
    _check_replaceable(out, overwrite)
    target = Path(os.path.abspath(out))  # "." or "..": a real name to rename to
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tar", dir=target.parent))
    except OSError as exc:
        raise write_error(out, exc) from None
    try:
        n_tables = _write(lib, doc, Path(os.path.abspath(limits_file)), build / FOLDER, scratch)
        errors = validation_errors(validator_cls, directory=build / FOLDER)
        if not errors:
            errors = validation_errors(validator_cls, archive=scratch / ARCHIVE)
        if errors:
            raise InputError(out, "hepdata-validator", f"the submission is not valid HEPData: {errors[0]}")
        os.replace(scratch / ARCHIVE, build / ARCHIVE)
        os.chmod(build, 0o777 & ~_umask())  # mkdtemp makes 0700; give the folder the usual permissions
        _move_into_place(build, target)
    except OSError as exc:
        raise write_error(out, exc) from None
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"{limits_file}: {n_tables} HEPData table(s), valid (hepdata-validator) -> {out}/ (upload {out / ARCHIVE})")
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
