"""Exceptions of the sandbox layer.

The split matters to callers: :class:`SandboxUnavailable` means *the infrastructure* failed
(Docker daemon down or restarting, API timeouts, a container that vanished). It says nothing
about the code that was running, so it must never be turned into a failed candidate: retry the
job or stop the run. Everything the code under test does (crash, timeout, flood, OOM) comes back
as an :class:`~sandbox.base.ExecResult` instead.
"""
from __future__ import annotations


class SandboxError(Exception):
    """Base class of every sandbox error."""


class SandboxConfigError(SandboxError, ValueError):
    """A configuration value a user gave is invalid (the message names the fix)."""


class SandboxUnavailable(SandboxError):
    """Infrastructure failure: the daemon or the container is gone or does not answer.

    Never a verdict on the code under test. The pool retries jobs that raise it; callers that
    drive a sandbox directly should retry on a fresh sandbox or stop, never record a failure.
    """


class SandboxBroken(SandboxUnavailable):
    """One sandbox can no longer be trusted or used (limit broken, reset failed, container
    died). The pool replaces it; a directly-held sandbox should be closed."""


class UnsafeBackendRefused(SandboxError):
    """The ``local`` backend was requested without the explicit opt-in."""


class ImageBuildError(SandboxError):
    """The sandbox image could not be pulled nor built; the message says why and what to do."""
