"""The public xenon electron-recoil datasets the package ships, and how each is built.

Each :class:`PublicDataset` names the raw release folder (under ``../shared/data`` in this project's
layout), the bundled dataset folder it becomes (``data/<folder>``), and its converter.
:func:`convert_public` rebuilds one or all of them; ``tests/converters/test_public.py`` checks that
the committed folders are exactly what the converters make from the raw files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bayes_xmass.converters.lz import convert_lz
from bayes_xmass.converters.pandax4t import convert_pandax4t
from bayes_xmass.converters.xenon1t import convert_release
from bayes_xmass.converters.xenonnt import convert_xenonnt
from bayes_xmass.errors import InputError

__all__ = ["PUBLIC_DATASETS", "PublicDataset", "convert_public"]


@dataclass(frozen=True)
class PublicDataset:
    """A bundled public dataset: its folder in ``data/``, its raw release folder, its converter."""

    folder: str
    label: str
    release: str  # folder name of the raw files (../shared/data/<release>)
    convert: Callable[..., Path]  # (release, out, overwrite=...) -> out
    paper: str


PUBLIC_DATASETS: dict[str, PublicDataset] = {
    d.folder: d
    for d in (
        PublicDataset(
            "xenonnt_sr0", "XENONnT SR0", "xenonnt_sr0_er", convert_xenonnt, "PRL 129 (2022) 161805, arXiv:2207.11330"
        ),
        PublicDataset(
            "lz_ws2022",
            "LZ WS2022",
            "lz_er",
            partial(convert_lz, run="ws2022"),
            "PRD 108 (2023) 072006, arXiv:2307.15753",
        ),
        PublicDataset("lz_ws2024", "LZ WS2024", "lz_er", partial(convert_lz, run="ws2024"), "arXiv:2511.17350"),
        PublicDataset("pandax4t_run1", "PandaX-4T Run1", "pandax4t_run1_er", convert_pandax4t, "arXiv:2408.07641"),
        PublicDataset(
            "xenon1t_sr1", "XENON1T SR1", "xenon1t_sr1_er", convert_release, "PRD 102 (2020) 072004, arXiv:2006.09721"
        ),
    )
}


def convert_public(
    shared_data: Path, out_dir: Path, names: tuple[str, ...] | None = None, overwrite: bool = False
) -> list[Path]:
    """Build the public datasets ``names`` (default all) from ``shared_data/<release>`` into
    ``out_dir/<folder>``; returns the folders written."""
    chosen = names or tuple(PUBLIC_DATASETS)
    unknown = [n for n in chosen if n not in PUBLIC_DATASETS]
    if unknown:
        raise InputError(
            "command line", "--only", f"unknown dataset {unknown[0]!r}; known: {', '.join(PUBLIC_DATASETS)}"
        )
    shared_data = Path(shared_data)
    if not shared_data.is_dir():
        raise InputError(shared_data, "", "not a folder (expected the raw public releases, e.g. ../shared/data)")
    written = []
    for name in chosen:
        d = PUBLIC_DATASETS[name]
        written.append(d.convert(shared_data / d.release, Path(out_dir) / d.folder, overwrite=overwrite))
    return written
