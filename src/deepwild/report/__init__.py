"""The HTML run report, built from a run directory alone."""
