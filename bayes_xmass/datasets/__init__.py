"""Datasets: the dataset format (data types, priors) and its validating loader.

Notebook entry points, re-exported here; library code imports from the defining module::

    from bayes_xmass.datasets import DEFAULT_DATASET, load_dataset, make_prior
    ds = load_dataset(DEFAULT_DATASET).view(window=(2.0, 15.0))

Modules: :mod:`~bayes_xmass.datasets.types` (Dataset, Background, Resolution, Efficiency),
:mod:`~bayes_xmass.datasets.loader` (load_dataset), :mod:`~bayes_xmass.datasets.dataset_files`
(checksum), :mod:`~bayes_xmass.datasets.toml_reader` and :mod:`~bayes_xmass.datasets.csv_tables`
(input validation), :mod:`~bayes_xmass.datasets.priors` (Prior, parsing, registry),
:mod:`~bayes_xmass.datasets.prior_kind_base` and :mod:`~bayes_xmass.datasets.prior_kinds` (kinds).
"""

from bayes_xmass.datasets.dataset_files import dataset_checksum
from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.datasets.prior_kind_base import PriorKind
from bayes_xmass.datasets.priors import PRIOR_KINDS, Prior, make_prior, parse_prior, register_prior_kind
from bayes_xmass.datasets.types import Background, Dataset, Efficiency, Resolution

__all__ = [
    "DEFAULT_DATASET",
    "PRIOR_KINDS",
    "Background",
    "Dataset",
    "Efficiency",
    "Prior",
    "PriorKind",
    "Resolution",
    "dataset_checksum",
    "load_dataset",
    "make_prior",
    "parse_prior",
    "register_prior_kind",
]
