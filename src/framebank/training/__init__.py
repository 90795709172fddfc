"""Training support for the recipes: losses, checkpoints, memory, reports.

This package sits above :mod:`framebank.layers` and is never imported by it.
"""
