"""Workflows: the commands' work (run, sample/limit/compare, scan, combine) into run directories."""
