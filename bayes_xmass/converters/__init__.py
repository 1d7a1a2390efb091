"""Converters from public data releases (and the simulated benchmark) to dataset folders."""
