"""Reference implementations: the registry lives in `registry.py` (no numpy import there)."""
