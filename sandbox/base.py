"""The sandbox interface and the backend registry.

A :class:`Sandbox` has an explicit lifecycle (open -> exec/write/read ... -> reset -> ... ->
close) like inspect_ai's SandboxEnvironment. Backends are registered by name in
:data:`BACKENDS`; third parties add theirs through the entry-point group
``fireassay.sandboxes``. Nothing here imports Docker.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from sandbox.config import SandboxConfig
from sandbox.options import check_options, constructor_options, lookup
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

    An implementation is a class registered in :data:`BACKENDS` whose constructor takes
    ``(config: SandboxConfig | None = None, *, run_id: str | None = None, kind: str = "sandbox")``
    and any keywords of its own (the pool and :func:`open_sandbox` refuse a keyword it does not
    name), starts the sandbox (ready for :meth:`exec` when it returns) and sets every attribute
    below. ``run_id`` names the run that owns it, ``kind`` what it is for (``"pool"``, ``"swe"``),
    both for finding leftovers. Infrastructure errors (daemon gone, API timeouts) raise
    :class:`sandbox.errors.SandboxUnavailable` from any method; they are never folded into an
    :class:`ExecResult`.
    """

    backend: ClassVar[str]
    """The name the backend is registered under (``"docker"``, ``"local"``)."""

    owns_user: ClassVar[bool] = False
    """True when the sandbox has its user, its scratch folders (``config.scratch_dirs``), its
    SysV IPC namespace and its CPU counter (cgroup) to itself: a job may then kill every process
    of its uid, empty those folders and remove every IPC object it sees, and read its CPU from
    the cgroup (the in-sandbox runner does: ``kill_strays``). Set by the backend class: docker
    True (a container of its own); local False (the code runs as you, beside your processes)."""

    workdir: str
    """The absolute path commands run in; relative paths of :meth:`write_files` and
    :meth:`read_file` are relative to it. Set by the constructor."""

    config: SandboxConfig
    """The limits the sandbox was made with. Set by the constructor; never changed."""

    run_id: str
    """The run that owns the sandbox ('' for none). Set by the constructor."""

    broken: bool = False
    """True when the sandbox can no longer be trusted or used: a reset failed, its container died
    or was killed after a limit, the daemon lost it. Set by the backend (and by a user that
    finds it in a state it cannot trust, e.g. the SWE judge when the container stopped during a
    job); never cleared. The pool closes a broken sandbox and leases a fresh one instead."""

    quiet: bool = False
    """True when the last job verified that nothing it started is left running (the runner's
    nonce-signed end line): the pool then leaves the scheduled reset folded into the next
    command instead of flushing it while idle. Set by the job (the code executor); cleared by
    the pool at every lease."""

    @abstractmethod
    def exec(self, cmd: list[str], stdin: bytes | None = None,
             timeout: float | None = None) -> ExecResult:
        """Run ``cmd`` (argv, no shell) as the sandbox user in :attr:`workdir`.

        Args:
            cmd: the program and its arguments (a non-empty list of strings).
            stdin: bytes fed to its standard input (None: none, it reads EOF).
            timeout: hard limit in seconds (None: ``config.exec_timeout``). On expiry every
                process of the sandbox user is killed (the whole tree, daemonised children
                included) and the result says ``timed_out``.

        Returns:
            What the command did: exit code (negative: killed by that signal), stdout and
            stderr (each at most ``config.output_limit`` bytes, ``truncated`` when cut), wall
            seconds. A failing or killed command is a result, never an exception.

        Raises:
            TypeError: ``cmd`` is a string or empty.
            SandboxBroken: the sandbox is :attr:`broken` (or became so: e.g. the reset folded
                into this command failed, and the command did not run).
            SandboxUnavailable: the infrastructure failed; run the job again elsewhere.
            SandboxError: the sandbox was closed.
        """

    @abstractmethod
    def write_files(self, files: Mapping[str, bytes | str]) -> None:
        """Write files into the sandbox (parents are created, existing files replaced).

        Args:
            files: path -> content; a path is relative to :attr:`workdir` and must stay inside
                it; a str content is written as UTF-8.

        Raises:
            ValueError: a path is absolute or leaves the work dir.
            SandboxError: the files could not be written (e.g. the work dir is full; the
                local backend raises the OSError itself).
            SandboxUnavailable: the infrastructure failed.
        """

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        """The content of a file in the sandbox.

        Args:
            path: relative to :attr:`workdir`, or absolute.

        Returns:
            Its bytes.

        Raises:
            FileNotFoundError: there is no such file (docker: or it cannot be read; local:
                other OSErrors as they come).
            ValueError: (local) the path leaves the work dir.
            SandboxError: it is too large to read back (docker: over 256 MiB).
            SandboxUnavailable: the infrastructure failed.
        """

    @abstractmethod
    def reset(self) -> None:
        """Kill every process of the sandbox user and wipe the scratch folders (work dir, /tmp,
        shared memory) and IPC objects, now: nothing of the previous job reaches the next.

        Raises:
            SandboxBroken: that cannot be done (the sandbox is then :attr:`broken`).
            SandboxUnavailable: the infrastructure failed.
        """

    def schedule_reset(self) -> None:
        """Ask for a reset before the next command. Backends may defer it and fold it into the
        next :meth:`exec` (the docker backend does: one exec per job instead of two); the
        default resets now. Either way nothing of the previous job survives into the next
        command.

        Raises:
            SandboxBroken: the sandbox is :attr:`broken` (or the eager reset failed).
            SandboxUnavailable: the infrastructure failed (eager reset).
        """
        self.reset()

    def flush_reset(self) -> None:  # noqa: B027 - optional: backends that defer resets override it
        """Carry out a scheduled reset now (a no-op when none is pending or resets are eager).

        Raises:
            SandboxBroken, SandboxUnavailable: as :meth:`reset`.
        """

    @abstractmethod
    def close(self) -> None:
        """Release everything (remove the container, the temporary folder). Idempotent; never
        raises for a sandbox that is already gone (what cannot be removed now is left to
        :meth:`reap_leftovers` of a later run)."""

    def healthy(self) -> bool:
        """Cheap liveness check (no command is run): False when the sandbox is :attr:`broken`,
        closed or its container stopped. The default says True."""
        return True

    @classmethod
    def reap_leftovers(cls) -> int:
        """Remove what sandboxes of crashed runs left behind (containers whose owner process is
        gone); the number removed. The pool calls it once when it starts. The default has
        nothing to remove.

        Raises:
            SandboxUnavailable: the infrastructure could not be asked.
        """
        return 0

    @classmethod
    def wait_until_available(cls, config: SandboxConfig) -> None:
        """Return when sandboxes of this backend can be made again after an infrastructure
        error (the pool calls it before running a job again). The default pauses briefly.

        Raises:
            SandboxUnavailable: the backend did not come back within ``config.infra_retry_s``.
        """
        time.sleep(0.2)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


BACKENDS: Registry[type[Sandbox]] = Registry(
    "sandbox backend",
    "fireassay.sandboxes",
    {"docker": "sandbox.docker_backend:DockerSandbox", "local": "sandbox.local_backend:LocalSandbox"},
)


def backend_class(backend: str, options: Mapping[str, Any] | None = None) -> type[Sandbox]:
    """The class of backend ``backend``, after checking that it takes ``options`` (its
    constructor's keywords).

    Raises:
        UnknownNameError: no backend of that name (the message names the closest one).
        UnknownOptionError: an option it does not take (the message names the valid ones).
    """
    cls = lookup(BACKENDS, backend)
    check_options(f"sandbox backend {backend!r}", options or {}, constructor_options(cls))
    return cls


def open_sandbox(backend: str = "docker", config: SandboxConfig | None = None, **kw: Any) -> Sandbox:
    """Open a sandbox of the named backend. ``kw`` goes to the backend (e.g. ``run_id``, ``kind``;
    ``allow_unsafe=True`` for local, which refuses to start without it); a keyword the backend
    does not take is an :class:`~sandbox.options.UnknownOptionError` naming the valid ones."""
    return backend_class(backend, kw)(config=config or SandboxConfig(), **kw)
