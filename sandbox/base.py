"""The sandbox interface and the backend registry.

A :class:`Sandbox` has an explicit lifecycle (open -> exec/write/read ... -> reset -> ... ->
close) like inspect_ai's SandboxEnvironment. Backends are registered by name in
:data:`BACKENDS`; third parties add theirs through the entry-point group
``fireassay.sandboxes``. Nothing here imports Docker.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

from sandbox.config import SandboxConfig
from sandbox.registry import Registry


@dataclass(frozen=True)
class ExecResult:
    """What one command did. ``returncode`` is negative for a signal (``-9`` = SIGKILL, as in
    :mod:`subprocess`). ``timed_out``: the hard limit killed it. ``truncated``: stdout or stderr
    exceeded the output cap and only the first ``output_limit`` bytes of it are kept."""

    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    truncated: bool
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def text(self, stream: str = "stdout") -> str:
        return getattr(self, stream).decode("utf-8", "replace")


class Sandbox(ABC):
    """One isolated place to run untrusted commands, used by one job at a time.

    - ``exec`` runs ``cmd`` (argv, no shell) as the sandbox user in ``workdir``, with a hard
      timeout: on expiry every process of the sandbox user is killed (the whole tree,
      including daemonised children) and the result says ``timed_out``.
    - Errors of the infrastructure raise :class:`sandbox.errors.SandboxUnavailable`; they are
      never folded into an ExecResult.
    """

    backend: str = ""
    workdir: str
    config: SandboxConfig
    # set by a job that has verified nothing of it is left running (the runner's nonce-signed
    # end line): the pool then leaves the scheduled reset folded into the next command instead
    # of flushing it while idle. The pool clears it at every lease.
    quiet: bool = False

    @abstractmethod
    def exec(self, cmd: list[str], stdin: bytes | None = None,
             timeout: float | None = None) -> ExecResult: ...

    @abstractmethod
    def write_files(self, files: Mapping[str, bytes | str]) -> None:
        """Write files; paths are relative to ``workdir`` (parents are created)."""

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        """Read a file; a relative path is relative to ``workdir``. Missing: FileNotFoundError."""

    @abstractmethod
    def reset(self) -> None:
        """Kill every process of the sandbox user and wipe the work dir (and /tmp).
        Raises :class:`sandbox.errors.SandboxBroken` when that cannot be done."""

    def schedule_reset(self) -> None:
        """Ask for a reset before the next command. Backends may defer it and fold it into the
        next :meth:`exec` (the docker backend does: one exec per job instead of two); the
        default resets now. Either way nothing of the previous job survives into the next
        command."""
        self.reset()

    def flush_reset(self) -> None:
        """Carry out a scheduled reset now (no-op when none is pending or resets are eager)."""

    @abstractmethod
    def close(self) -> None:
        """Release everything (remove the container). Idempotent."""

    def healthy(self) -> bool:
        """Cheap liveness check used by the pool; backends may override."""
        return True

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


BACKENDS: Registry[Any] = Registry(
    "sandbox backend",
    "fireassay.sandboxes",
    {"docker": "sandbox.docker_backend:DockerSandbox", "local": "sandbox.local_backend:LocalSandbox"},
)


def open_sandbox(backend: str = "docker", config: SandboxConfig | None = None, **kw: Any) -> Sandbox:
    """Open a sandbox of the named backend. ``kw`` goes to the backend (e.g. ``run_id`` for
    docker, ``allow_unsafe=True`` for local, which refuses to start without it)."""
    return BACKENDS.create(backend, config=config or SandboxConfig(), **kw)
