"""Isolated execution. Knows nothing of verifiers or the loop.

- The interface: :class:`~sandbox.base.Sandbox` (every attribute and method its users read is
  declared there), :class:`~sandbox.base.ExecResult`, the backends by name
  (:data:`~sandbox.base.BACKENDS`: ``docker`` in :mod:`.docker_backend`, ``local`` in
  :mod:`.local_backend`) and :func:`~sandbox.base.open_sandbox`; limits in
  :class:`~sandbox.config.SandboxConfig`; errors in :mod:`.errors`.
- The warm pool: :class:`~sandbox.pool.SandboxPool`.
- The in-sandbox runner (:mod:`sandbox.runner`: the runner, fork server and child programs and
  their wire protocol) and the codec of the values it carries (:mod:`.plain`).
- Images (:mod:`.image`), leftovers of crashed runs (:mod:`.reap`, :mod:`.labels`), checks of the
  machine (:mod:`.doctor`).

Generic helpers that ``verifiers`` and ``loop`` use too (they sit here, in the lowest layer, so
that every package may import them): :mod:`.registry` (name -> implementation registries with
entry points: sandbox backends, verifiers, tasks, engines, samplers), :mod:`.options` (unknown
options refused, naming the closest valid one) and :mod:`.procpool` (worker processes with a
hard per-call timeout and a memory cap: math checkers).

Kept import-light: ``import sandbox`` imports nothing; the names below load their module on
first use, and backends load lazily through :data:`~sandbox.base.BACKENDS`.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BACKENDS": "sandbox.base", "ExecResult": "sandbox.base", "Sandbox": "sandbox.base",
    "backend_class": "sandbox.base", "open_sandbox": "sandbox.base",
    "SandboxConfig": "sandbox.config",
    "SandboxBroken": "sandbox.errors", "SandboxConfigError": "sandbox.errors",
    "SandboxError": "sandbox.errors", "SandboxUnavailable": "sandbox.errors",
    "UnsafeBackendRefused": "sandbox.errors",
    "SandboxPool": "sandbox.pool",
    "Registry": "sandbox.registry", "UnknownNameError": "sandbox.registry",
    "UnknownOptionError": "sandbox.options", "check_options": "sandbox.options",
    "constructor_options": "sandbox.options", "lookup": "sandbox.options",
    "CallResult": "sandbox.procpool", "ProcessPool": "sandbox.procpool",
}


def __getattr__(name: str) -> Any:  # PEP 562: the public names, each imported on first use
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")


__all__ = sorted(_WHERE)
