"""Registry of the exotic interactions: names, parameter of interest, units, published limits.

The one place where an interaction's names meet: the internal key (``b_minus_l``, used in fit
labels and output files), the command-line name (``dark-photon``), aliases, and the model file.

>>> get_interaction("dark-photon").name
'b_minus_l'
>>> get_interaction("b_minus_l").cli_name, get_interaction("b_minus_l").model_file
('dark-photon', 'dark_photon.toml')
>>> get_interaction("magnetic-moment").published_limits["common"]
1.8e-10
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALIASES", "CHARGE_CONVENTION", "INTERACTIONS", "Interaction", "get_interaction"]


@dataclass(frozen=True)
class Interaction:
    """One interaction: how its coupling enters (``signed``), its unit and natural scale."""

    name: str
    cli_name: str
    poi: str
    coupling_unit: str
    scale: float
    """Typical coupling size (centre of the automatic coupling-scale search)."""
    signed: bool
    """Whether the coupling has a sign that matters (millicharge: interference with the weak amplitude)."""
    description: str
    published_limits: dict[Any, float] = field(default_factory=dict)
    """XMASS-I 90% CL upper limits, PLB 809 (2020) 135741 (key: flavour set or mediator mass)."""

    @property
    def model_file(self) -> str:
        """The bundled model file: ``models/<cli name with underscores>.toml``."""
        return self.cli_name.replace("-", "_") + ".toml"


INTERACTIONS: dict[str, Interaction] = {
    "magnetic_moment": Interaction(
        "magnetic_moment",
        "magnetic-moment",
        "mu_nu",
        "mu_B",
        1e-10,
        False,
        "effective neutrino magnetic moment (flavour-universal), rate = mu^2 T_mm",
        {"common": 1.8e-10},
    ),
    "millicharge": Interaction(
        "millicharge",
        "millicharge",
        "q_nu",
        "e",
        1e-12,
        True,
        "neutrino millicharge in units of the proton charge e > 0; rate = q T_int + q^2 T_pure",
        {"common": 5.4e-12, "e": 7.3e-12, "mu": 1.1e-11, "tau": 1.1e-11},
    ),
    "b_minus_l": Interaction(
        "b_minus_l",
        "dark-photon",
        "g_BL",
        "dimensionless",
        1e-6,
        False,
        "U(1)_B-L gauge boson of mass M (MeV), coupling g; rate = g^2 T_int(M) + g^4 T_pure(M)",
        {1e-3: 1.3e-6, 10.0: 8.8e-5},
    ),
}
ALIASES = {
    "b-minus-l": "b_minus_l",
    "bl": "b_minus_l",
    "dark_photon": "b_minus_l",
    "mm": "magnetic_moment",
    "mc": "millicharge",
}

CHARGE_CONVENTION = (
    "q in units of the proton charge e > 0; for nu_e the SM-interference is constructive for q < 0 "
    "(XMASS quotes its strongest limit for 'positive neutrinos' in its own convention)"
)


def get_interaction(name: str) -> Interaction:
    """Look up an interaction by internal name, CLI name or alias."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    for inter in INTERACTIONS.values():
        if key in (inter.name, inter.cli_name):
            return inter
    known = ", ".join(i.cli_name for i in INTERACTIONS.values())
    raise KeyError(f"unknown interaction {name!r}; known: {known}")
