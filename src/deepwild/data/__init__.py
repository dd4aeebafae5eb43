"""Datasets, readers and writers, transforms and augmentation, class-imbalance tools."""
