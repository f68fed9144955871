"""Every knob of a sandbox in one validated, frozen dataclass.

Defaults are the safe ones: no network, 1 GiB memory with no swap, 256 pids, one CPU,
read-only root, a size-capped tmpfs work dir, a non-root user, all capabilities dropped,
no-new-privileges, and stdout/stderr capped at 1 MiB each.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from sandbox.errors import SandboxConfigError

# The tag carries the image version (sandbox.image.IMAGE_VERSION): an image built by an older
# fireassay (version 1: no numpy) keeps its own tag and stays usable by that version.
DEFAULT_IMAGE = "fireassay/python:3.11-bookworm-v2"
MIB = 1024 * 1024

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_USER_RE = re.compile(r"^(\d+)(?::(\d+))?$")


def parse_size(value: str | int, what: str) -> int:
    """``"1g"``, ``"512m"``, ``"64MiB"`` or a byte count -> bytes (binary units)."""
    if isinstance(value, bool):
        raise SandboxConfigError(f"{what} must be a size like '1g' or '512m', not {value!r}")
    if isinstance(value, int):
        n = value
    else:
        m = _SIZE_RE.match(str(value))
        if not m:
            raise SandboxConfigError(
                f"{what}={value!r} is not a size; write it like '1g', '512m' or a byte count"
            )
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise SandboxConfigError(f"{what} must be positive, got {value!r}")
    return n


def default_pool_size() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and identity of one sandbox. Validated on construction; use :meth:`with_` to vary.

    ``labels`` may be given as a dict; it is stored as a sorted tuple of pairs so the config
    stays hashable.
    """

    image: str = DEFAULT_IMAGE
    network_mode: str = "none"
    memory: str = "1g"  # RAM limit; swap is set equal to it, i.e. no swap
    pids: int = 256
    cpus: float = 1.0  # CPU quota (nano-cpus), not pinning
    read_only: bool = True  # read-only root file system
    workdir: str = "/work"  # tmpfs, wiped between jobs
    workdir_size: str = "256m"
    tmp_size: str = "64m"  # /tmp is a tmpfs as well (root is read-only), also wiped
    # shared memory: the /dev/shm tmpfs AND the SysV segments (kernel.shmmax, shmall) of the
    # container's private IPC namespace are each capped at this; both are wiped between jobs
    shm_size: str = "64m"
    user: str = "10001:10001"  # numeric uid:gid, never root
    nofile: int = 4096  # open files per process (ulimit -n); core dumps are always off
    cap_drop: tuple[str, ...] = ("ALL",)
    no_new_privileges: bool = True
    output_limit: int = 1 * MIB  # bytes kept per stream; the rest is drained and dropped
    exec_timeout: float = 60.0  # default hard limit of one exec, seconds
    pool_size: int | None = None  # None: number of CPU cores
    labels: Any = ()  # extra container labels: Mapping[str, str] or tuple of pairs
    env: Any = ()  # extra environment for every exec: Mapping[str, str] or tuple of pairs
    docker_timeout: float = 30.0  # seconds for one Docker API call
    infra_retry_s: float = 90.0  # how long to retry Docker API errors before giving up
    reset_timeout: float = 15.0  # a reset slower than this marks the sandbox broken
    kill_timeout: float = 3.0  # in-container kill after a timeout; slower: the container is
    #                            killed from outside and replaced (fork bombs starve the killer)
    init_cmd: tuple[str, ...] = ()  # PID 1 of the container; () = the built-in python reaper

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if not isinstance(self.image, str) or not self.image.strip():
            raise SandboxConfigError("image must name a Docker image, e.g. " + DEFAULT_IMAGE)
        if self.network_mode not in ("none", "bridge", "host") and not self.network_mode.startswith(
            "container:"
        ):
            raise SandboxConfigError(
                f"network_mode={self.network_mode!r}: use 'none' (the default and the only safe "
                "choice for untrusted code), 'bridge' or 'host'"
            )
        parse_size(self.memory, "memory")
        parse_size(self.workdir_size, "workdir_size")
        parse_size(self.tmp_size, "tmp_size")
        if parse_size(self.shm_size, "shm_size") < 1 * MIB:
            raise SandboxConfigError(f"shm_size={self.shm_size!r}: give at least 1m")
        if not isinstance(self.pids, int) or self.pids < 8:
            raise SandboxConfigError(f"pids={self.pids!r}: give an integer >= 8 (default 256)")
        if not isinstance(self.nofile, int) or self.nofile < 64:
            raise SandboxConfigError(f"nofile={self.nofile!r}: give an integer >= 64")
        if not (isinstance(self.cpus, (int, float)) and 0 < float(self.cpus) <= 1024):
            raise SandboxConfigError(f"cpus={self.cpus!r}: give a positive number, e.g. 1 or 0.5")
        if not self.workdir.startswith("/") or self.workdir.rstrip("/") in ("", "/tmp", "/proc",
                                                                             "/dev", "/sys"):
            raise SandboxConfigError(
                f"workdir={self.workdir!r}: give an absolute path of its own, e.g. /work"
            )
        set_("workdir", self.workdir.rstrip("/"))
        m = _USER_RE.match(str(self.user))
        if not m:
            raise SandboxConfigError(
                f"user={self.user!r}: give a numeric uid:gid, e.g. 10001:10001 (names need "
                "/etc/passwd entries that an imported image may lack)"
            )
        uid, gid = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if uid == 0:
            raise SandboxConfigError("user must not be root (uid 0); use e.g. 10001:10001")
        set_("user", f"{uid}:{gid}")
        set_("cap_drop", tuple(str(c).upper() for c in self.cap_drop))
        if not isinstance(self.output_limit, int) or self.output_limit < 1024:
            raise SandboxConfigError(f"output_limit={self.output_limit!r}: give bytes >= 1024")
        for name in ("exec_timeout", "docker_timeout", "infra_retry_s", "reset_timeout",
                     "kill_timeout"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v <= 0:
                raise SandboxConfigError(f"{name}={v!r}: give a positive number of seconds")
        if self.pool_size is not None and (not isinstance(self.pool_size, int) or self.pool_size < 1):
            raise SandboxConfigError(f"pool_size={self.pool_size!r}: give an integer >= 1 or None")
        set_("labels", _pairs(self.labels, "labels"))
        set_("env", _pairs(self.env, "env"))
        set_("init_cmd", tuple(str(a) for a in self.init_cmd))

    # -- derived values -------------------------------------------------------------------
    @property
    def uid(self) -> int:
        return int(self.user.split(":")[0])

    @property
    def gid(self) -> int:
        return int(self.user.split(":")[1])

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory, "memory")

    @property
    def workdir_bytes(self) -> int:
        return parse_size(self.workdir_size, "workdir_size")

    @property
    def tmp_bytes(self) -> int:
        return parse_size(self.tmp_size, "tmp_size")

    @property
    def shm_bytes(self) -> int:
        return parse_size(self.shm_size, "shm_size")

    @property
    def scratch_dirs(self) -> tuple[str, ...]:
        """The writable places a sandbox's code can leave files in (POSIX shared memory and
        message queues included): emptied between jobs, and by the code runner between
        programs."""
        return (self.workdir, "/tmp", "/dev/shm", "/dev/mqueue")

    def ipc_sysctls(self) -> dict[str, str]:
        """Limits of the container's private IPC namespace (Docker's namespaced sysctls):
        SysV shared memory capped at ``shm_size`` in all (at most 64 segments), and few
        semaphore sets and message queues, so one job cannot pin the memory limit."""
        shm = self.shm_bytes
        return {"kernel.shmmax": str(shm), "kernel.shmall": str(max(1, shm // 4096)),
                "kernel.shmmni": "64", "kernel.msgmni": "32", "kernel.msgmnb": "65536",
                "kernel.sem": "250 8000 32 32", "fs.mqueue.queues_max": "32",
                # a segment no process holds any more is destroyed (the killed are gone too)
                "kernel.shm_rmid_forced": "1"}

    @property
    def resolved_pool_size(self) -> int:
        return self.pool_size or default_pool_size()

    def with_(self, **changes: Any) -> "SandboxConfig":
        return replace(self, **changes)


def _pairs(value: Any, what: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        try:
            items = [tuple(p) for p in value]
        except TypeError:
            raise SandboxConfigError(f"{what} must be a mapping of str to str") from None
    out = []
    for p in items:
        if len(p) != 2:
            raise SandboxConfigError(f"{what} must be a mapping of str to str")
        k, v = p
        out.append((str(k), str(v)))
    return tuple(sorted(out))
