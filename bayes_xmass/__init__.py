"""bayes_xmass: exotic neutrino-electron interactions with solar neutrinos in xenon detectors.

Re-does the XMASS-I search (PLB 809 (2020) 135741) for a neutrino millicharge, a neutrino
magnetic moment and a U(1)_B-L dark photon, Bayesian (PyMC/NUTS) and frequentist side by side.
Data flow: physics -> response -> templates -> likelihood -> inference -> report.
"""

from bayes_xmass.version import __version__
