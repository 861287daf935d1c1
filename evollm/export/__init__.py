"""Exporters: pure functions from entries to text, in registries (dicts) by format name."""
