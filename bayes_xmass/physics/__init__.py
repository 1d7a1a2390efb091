"""Physics: constants, solar neutrino fluxes, cross sections, atomic models, recoil spectra."""
