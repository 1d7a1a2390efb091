"""Validation studies: simulation-based calibration, coverage, prior sensitivity."""
