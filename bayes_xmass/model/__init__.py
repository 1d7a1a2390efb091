"""The statistical model: expected counts, likelihood, POI coordinate, PyMC model, model specs, fit targets."""
