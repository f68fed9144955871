"""Files copied into the test container (run there, never imported on the host)."""
from __future__ import annotations

from importlib.resources import files


def source(name: str) -> bytes:
    return files(__name__).joinpath(name).read_bytes()
