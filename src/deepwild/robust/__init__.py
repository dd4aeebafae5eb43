"""Adversarial attacks on deepwild classifiers and detectors of adversarial inputs (see `base`)."""
