"""Outputs: comparison tables, plots, per-fit NetCDF/Markdown reports, report.html."""
