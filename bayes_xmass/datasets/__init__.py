"""Datasets: the dataset format (types, priors) and its validating loader."""
