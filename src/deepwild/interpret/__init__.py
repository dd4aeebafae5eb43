"""Interpretability tools: they explain what a network learned and how its training went."""
