"""Newspaper article segmentation (Meier et al., ICDAR 2017): metrics now; data, training and
segmentation build on them."""
