"""Isolated execution. Knows nothing of verifiers or the loop.

Kept import-light: backends load lazily through :data:`sandbox.base.BACKENDS`.
"""
