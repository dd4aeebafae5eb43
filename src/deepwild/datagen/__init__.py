"""Generators that make data from what packages ship: music pages (verovio), newspaper pages, scan degradation."""
