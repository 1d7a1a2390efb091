"""Detector response: true recoil energy -> reconstructed-energy bins, and binned templates."""
