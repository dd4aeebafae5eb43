"""Newspaper pages for article segmentation (Meier et al., ICDAR 2017): layout, text, rendering, scan degradation, generation."""
