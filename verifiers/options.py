"""Option checking for verifiers, selectors and what ``loop`` builds by name: an unknown key is an
error naming the valid keys and the closest match, raised before anything is built.

The checking is :mod:`sandbox.options` (sandbox backends check their keywords with it too);
these are the same objects, importable from the verifiers' side.
"""
from __future__ import annotations

from sandbox.options import UnknownOptionError, check_options, closest, constructor_options, lookup

__all__ = ["UnknownOptionError", "check_options", "closest", "constructor_options", "lookup"]
