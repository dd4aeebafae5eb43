"""Shapes every other layer shares: errors, strict configs, registries, safe I/O, result types.

`core` imports nothing else of deepwild.
"""
