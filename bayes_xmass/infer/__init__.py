"""Inference: NUTS posteriors, profile likelihood, batched toy fits, toys, the B-L scan, combined fits."""
