"""Physics: solar-neutrino fluxes, neutrino-electron cross sections and recoil spectra in xenon.

Rates are per unit recoil energy, events/(keV kg day), at true recoil energy T in keV.
Modules: :mod:`~bayes_xmass.physics.constants` (constants, unit conversions),
:mod:`~bayes_xmass.physics.solar` (fluxes, oscillations), :mod:`~bayes_xmass.physics.xsec`
(cross sections), :mod:`~bayes_xmass.physics.atomic` (atomic binding), :mod:`~bayes_xmass.physics.spectra`
(recoil spectra), :mod:`~bayes_xmass.physics.radioactivity` (background shapes) and
:mod:`~bayes_xmass.physics.interactions` (the interactions searched for).

Notebook entry points are re-exported here, imported on first use (``import bayes_xmass.physics``
stays cheap); library code imports from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports

if TYPE_CHECKING:
    from bayes_xmass.physics.atomic import ATOMIC_MODELS as ATOMIC_MODELS
    from bayes_xmass.physics.atomic import AtomicModel as AtomicModel
    from bayes_xmass.physics.interactions import INTERACTIONS as INTERACTIONS
    from bayes_xmass.physics.interactions import Interaction as Interaction
    from bayes_xmass.physics.interactions import get_interaction as get_interaction
    from bayes_xmass.physics.solar import FLUX_SETS as FLUX_SETS
    from bayes_xmass.physics.solar import OscillationParameters as OscillationParameters
    from bayes_xmass.physics.solar import flux_set as flux_set
    from bayes_xmass.physics.solar import survival_probability as survival_probability
    from bayes_xmass.physics.spectra import BasisSpectra as BasisSpectra
    from bayes_xmass.physics.spectra import PhysicsConfig as PhysicsConfig
    from bayes_xmass.physics.spectra import basis_spectra as basis_spectra
    from bayes_xmass.physics.spectra import direct_rate as direct_rate
    from bayes_xmass.physics.spectra import per_tonne_year as per_tonne_year
    from bayes_xmass.physics.spectra import sm_rate as sm_rate

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "ATOMIC_MODELS": "bayes_xmass.physics.atomic",
        "AtomicModel": "bayes_xmass.physics.atomic",
        "INTERACTIONS": "bayes_xmass.physics.interactions",
        "Interaction": "bayes_xmass.physics.interactions",
        "get_interaction": "bayes_xmass.physics.interactions",
        "FLUX_SETS": "bayes_xmass.physics.solar",
        "OscillationParameters": "bayes_xmass.physics.solar",
        "flux_set": "bayes_xmass.physics.solar",
        "survival_probability": "bayes_xmass.physics.solar",
        "BasisSpectra": "bayes_xmass.physics.spectra",
        "PhysicsConfig": "bayes_xmass.physics.spectra",
        "basis_spectra": "bayes_xmass.physics.spectra",
        "direct_rate": "bayes_xmass.physics.spectra",
        "per_tonne_year": "bayes_xmass.physics.spectra",
        "sm_rate": "bayes_xmass.physics.spectra",
    },
)
