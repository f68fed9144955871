"""The Docker backend: one long-lived container per sandbox, commands run with ``docker exec``.

The container's PID 1 is a tiny reaper (it only reaps zombies; signals from inside the
container cannot kill it), so killing every process of the sandbox user (``kill -9 -1`` run
*as that user*: with all capabilities dropped, root could not signal another uid) leaves the
container alive and reusable. The work dir and /tmp are size-capped tmpfs mounts, wiped by
:meth:`DockerSandbox.reset`.

Output is read from the exec's hijacked socket frame by frame: at most ``output_limit`` bytes
per stream are kept, the rest is drained and dropped, so a flood never sits in memory.
"""
from __future__ import annotations

import atexit
import io
import logging
import os
import posixpath
import select
import socket
import struct
import tarfile
import threading
import time
import uuid
import weakref
from typing import Any, Mapping

from sandbox.base import ExecResult, Sandbox
from sandbox.config import SandboxConfig
from sandbox.docker_client import make_client, retrying
from sandbox.docker_scripts import KILL_SCRIPT, REAPER, RESET_PREFIX, RESET_SCRIPT
from sandbox.errors import SandboxBroken, SandboxError, SandboxUnavailable
from sandbox.labels import owner_labels

log = logging.getLogger(__name__)

_OPEN: "weakref.WeakSet[DockerSandbox]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # containers must not outlive the process that made them
    for sb in list(_OPEN):
        try:
            sb.close()
        except Exception:  # noqa: BLE001 - best effort at exit; `reap` cleans up the rest
            pass


class _Demux:
    """Incremental parser of Docker's multiplexed stream (8-byte header: stream, 0,0,0, size)
    that keeps at most ``cap`` bytes per stream."""

    def __init__(self, cap: int, extra_err: int = 0) -> None:
        self.caps = {1: cap, 2: cap + extra_err}
        self.out = {1: bytearray(), 2: bytearray()}
        self.truncated = False
        self._hdr = bytearray()
        self._stream = 0
        self._left = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos, n = 0, len(data)
        while pos < n:
            if self._left == 0:
                take = min(8 - len(self._hdr), n - pos)
                self._hdr += view[pos : pos + take]
                pos += take
                if len(self._hdr) == 8:
                    self._stream = self._hdr[0]
                    self._left = struct.unpack(">I", bytes(self._hdr[4:8]))[0]
                    self._hdr.clear()
                continue
            take = min(self._left, n - pos)
            buf = self.out.get(self._stream)
            if buf is not None:
                room = self.caps[self._stream] - len(buf)
                if room > 0:
                    buf += view[pos : pos + min(room, take)]
                if take > room:
                    self.truncated = True
            pos += take
            self._left -= take


class DockerSandbox(Sandbox):
    """A long-lived container (see the module's docstring). Its own keyword: ``client`` (a
    docker SDK client to use instead of a new one)."""

    backend = "docker"
    owns_user = True  # a container of its own: its uid, scratch, IPC namespace and cgroup

    def __init__(self, config: SandboxConfig | None = None, *, run_id: str | None = None,
                 client: Any = None, kind: str = "sandbox") -> None:
        self.config = cfg = config or SandboxConfig()
        self.workdir = cfg.workdir
        self.run_id = run_id or ""
        self.broken = False
        self.reset_pending = False
        self._closed = False
        self._client = client or make_client(timeout=cfg.docker_timeout, retry_s=cfg.infra_retry_s)
        self.name = f"fireassay-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        self._labels = {**dict(cfg.labels), **owner_labels(run_id, kind)}
        self._env = {"HOME": cfg.workdir, "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
                     "LANG": "C.UTF-8", **dict(cfg.env)}
        self._wipe_dirs = " ".join(sorted(set(cfg.scratch_dirs)))
        self.container = retrying(self._create, seconds=cfg.infra_retry_s, what="create container")
        self.id: str = self.container.id
        _OPEN.add(self)

    # -- lifecycle ------------------------------------------------------------------------
    @classmethod
    def reap_leftovers(cls) -> int:
        """Remove the containers of runs whose owner process is gone (:func:`sandbox.reap.reap`)."""
        from sandbox.reap import reap

        return len(reap().removed)

    @classmethod
    def wait_until_available(cls, config: SandboxConfig) -> None:
        """Wait for the Docker daemon to answer (up to ``config.infra_retry_s``)."""
        make_client(timeout=config.docker_timeout, retry_s=config.infra_retry_s).close()

    def _create(self) -> Any:
        import docker

        cfg = self.config
        init = list(cfg.init_cmd) or ["python3", "-I", "-S", "-c", REAPER]
        # a half-created container of a failed attempt must not linger
        try:
            self._client.containers.get(self.name).remove(force=True)
        except docker.errors.NotFound:
            pass
        try:
            # create + start, not containers.run: run() would try to pull a missing image
            container = self._client.containers.create(
                cfg.image,
                command=init,
                name=self.name,
                detach=True,
                user=cfg.user,
                environment=self._env,
                network_mode=cfg.network_mode,
                mem_limit=cfg.memory_bytes,
                memswap_limit=cfg.memory_bytes,  # == memory: no swap
                pids_limit=cfg.pids,
                nano_cpus=int(cfg.cpus * 1e9),
                read_only=cfg.read_only,
                tmpfs={
                    # no working_dir on the container: the daemon would re-create it 0755 root
                    cfg.workdir: f"rw,exec,nosuid,nodev,size={cfg.workdir_bytes},mode=1777,"
                                 f"uid={cfg.uid},gid={cfg.gid}",
                    "/tmp": f"rw,exec,nosuid,nodev,size={cfg.tmp_bytes},mode=1777",
                },
                cap_drop=list(cfg.cap_drop),
                security_opt=["no-new-privileges:true"] if cfg.no_new_privileges else [],
                labels=self._labels,
                ipc_mode="private",
                shm_size=cfg.shm_bytes,
                sysctls=cfg.ipc_sysctls(),
                ulimits=[docker.types.Ulimit(name="nofile", soft=cfg.nofile, hard=cfg.nofile),
                         docker.types.Ulimit(name="core", soft=0, hard=0)],
                stop_signal="SIGKILL",
            )
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(
                f"sandbox image {cfg.image!r} not found; build it with `fireassay sandbox build`"
            ) from exc
        container.start()
        return container

    def healthy(self) -> bool:
        if self.broken or self._closed:
            return False
        try:
            self.container.reload()
            return self.container.status == "running"
        except Exception:  # noqa: BLE001 - any failure to look means "not usable"
            return False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _OPEN.discard(self)
        import docker

        def rm() -> None:
            try:
                self.container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if "already in progress" not in str(exc):
                    raise

        try:
            retrying(rm, seconds=min(20.0, self.config.infra_retry_s), what="remove container")
        except SandboxUnavailable as exc:  # reap removes it later (its owner pid is recorded)
            log.warning("could not remove %s: %s", self.name, exc)

    # -- exec -----------------------------------------------------------------------------
    def _api(self, fn: Any, what: str, seconds: float | None = None) -> Any:
        import docker

        def call() -> Any:
            try:
                return fn()
            except docker.errors.NotFound as exc:
                self.broken = True
                raise SandboxBroken(f"{what}: {self.name} or its exec is gone ({exc})") from exc
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and "not running" in str(exc):
                    self.broken = True
                    raise SandboxBroken(f"{what}: container {self.name} is not running") from exc
                raise

        return retrying(call, seconds=self.config.infra_retry_s if seconds is None else seconds,
                        what=what)

    def exec(self, cmd: list[str], stdin: bytes | None = None,
             timeout: float | None = None) -> ExecResult:
        return self._exec(cmd, stdin, timeout, self.config.output_limit, kill_on_timeout=True)

    def _exec(self, cmd: list[str], stdin: bytes | None, timeout: float | None, cap: int,
              kill_on_timeout: bool) -> ExecResult:
        if self._closed:
            raise SandboxError("exec on a closed sandbox")
        if self.broken:
            raise SandboxBroken(f"sandbox {self.name} is broken (a limit or the daemon); "
                                "close it and open a new one")
        if isinstance(cmd, str) or not cmd:
            raise TypeError("cmd must be a non-empty list of arguments, e.g. ['python3', 'x.py']")
        if isinstance(stdin, str):
            stdin = stdin.encode()
        timeout = self.config.exec_timeout if timeout is None else float(timeout)
        api = self._client.api
        argv = [str(a) for a in cmd]
        env = self._env
        nonce = b""
        if self.reset_pending:
            nonce = f"<fireassay-reset-ok-{uuid.uuid4().hex}>".encode()
            argv = ["sh", "-c", RESET_PREFIX.replace("{dirs}", self._wipe_dirs), "sh", *argv]
            env = {**env, "FIREASSAY_RESET_NONCE": nonce.decode()}
            self.reset_pending = False  # whatever happens now, no second attempt on this exec
        exec_id = self._api(
            lambda: api.exec_create(self.id, argv, stdin=stdin is not None,
                                    stdout=True, stderr=True, user=self.config.user,
                                    workdir=self.workdir, environment=env)["Id"],
            "exec create",
        )
        sock = self._api(lambda: api.exec_start(exec_id, socket=True), "exec start")
        raw: socket.socket = getattr(sock, "_sock", sock)
        t0 = time.monotonic()
        # With a folded reset, the command's clock starts when the reset's nonce arrives: the
        # previous job's leftovers must not eat into this job's time limit.
        reset_deadline = t0 + self.config.reset_timeout
        deadline: float | None = None if nonce else t0 + timeout
        t_start = t0
        demux = _Demux(cap, extra_err=len(nonce))
        timed_out = reset_failed = False
        if stdin is not None:
            threading.Thread(target=_feed_stdin, args=(raw, stdin), daemon=True).start()
        try:
            while True:
                now = time.monotonic()
                if deadline is None:
                    if len(demux.out[2]) >= len(nonce):
                        t_start, deadline = now, now + timeout
                    elif now >= reset_deadline:
                        reset_failed = True
                        break
                remaining = (reset_deadline if deadline is None else deadline) - now
                if remaining <= 0:
                    timed_out = True
                    break
                ready, _, _ = select.select([raw], [], [], min(remaining, 1.0))
                if not ready:
                    continue
                chunk = raw.recv(1 << 18)
                if not chunk:
                    break
                demux.feed(chunk)
        except OSError as exc:  # connection reset: the daemon went away mid-stream
            self.broken = True
            _close_quietly(sock, raw)
            raise SandboxUnavailable(f"exec stream broke: {exc}") from exc
        if reset_failed:
            _close_quietly(sock, raw)
            self._kill_container()
            raise SandboxBroken(f"reset before the command did not finish within "
                                f"{self.config.reset_timeout:g}s in {self.name}")
        if timed_out and kill_on_timeout:
            self._kill_all()
        _close_quietly(sock, raw)
        duration = time.monotonic() - t_start
        code = -9 if timed_out else self._exit_code(exec_id, False)
        stderr, truncated = bytes(demux.out[2]), demux.truncated
        if nonce:
            if not stderr.startswith(nonce):  # the reset part failed: the command never ran
                self.broken = True
                raise SandboxBroken(f"reset before the command failed in {self.name} "
                                    f"(exit {code}, timed out {timed_out}): {stderr[:300]!r}")
            stderr = stderr[len(nonce):]
            if len(stderr) > cap:
                stderr, truncated = stderr[:cap], True
        return ExecResult(code, bytes(demux.out[1]), stderr, timed_out, truncated, duration)

    def _exit_code(self, exec_id: str, timed_out: bool) -> int:
        """The exit code after the stream closed. EOF can also mean the daemon died, so a
        missing exit code is an infrastructure error, never 'the program failed'."""
        api = self._client.api
        end = time.monotonic() + (2.0 if timed_out else 10.0)
        while True:
            info = self._api(lambda: api.exec_inspect(exec_id), "exec inspect", seconds=5.0)
            if not info.get("Running") and info.get("ExitCode") is not None:
                code = int(info["ExitCode"])
                # the runtime reports death by signal N as 128+N; report it as -N like subprocess
                return -(code - 128) if 128 < code < 160 else code
            if time.monotonic() > end:
                if timed_out:
                    return -9
                self.broken = True
                raise SandboxUnavailable(
                    f"exec in {self.name}: output closed but no exit code (daemon trouble?)"
                )
            time.sleep(0.01)

    def _kill_all(self) -> None:
        """Hard kill of everything the sandbox user runs (the timed-out tree included)."""
        try:
            r = self._exec(["sh", "-c", KILL_SCRIPT], None, self.config.kill_timeout, 4096,
                           kill_on_timeout=False)
            if r.returncode == 0:
                return
            log.info("in-container kill in %s failed (%r); killing the container", self.name, r)
        except SandboxUnavailable as exc:
            log.info("in-container kill in %s failed (%s); killing the container", self.name, exc)
        self._kill_container()

    def _kill_container(self) -> None:
        """Stop everything from outside and mark the sandbox broken (the pool replaces it)."""
        self.broken = True
        try:
            self.container.kill()
        except Exception as exc:  # noqa: BLE001 - gone already, or the daemon is; close() retries
            log.info("killing container %s: %s", self.name, exc)

    # -- files ----------------------------------------------------------------------------
    def _path(self, path: str) -> str:
        full = posixpath.normpath(posixpath.join(self.workdir, path))
        return full

    def write_files(self, files: Mapping[str, bytes | str]) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for rel, data in files.items():
                norm = posixpath.normpath(rel)
                if rel.startswith("/") or norm == ".." or norm.startswith("../"):
                    raise ValueError(f"write_files: {rel!r} must be a path inside the work dir")
                if isinstance(data, str):
                    data = data.encode()
                info = tarfile.TarInfo(norm)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))
        r = self._exec(["tar", "-x", "-f", "-", "-C", self.workdir, "--no-same-owner"],
                       buf.getvalue(), self.config.reset_timeout * 4, 64 * 1024, True)
        if not r.ok:
            raise SandboxError(f"write_files failed: {r.text('stderr').strip()[:500]}")

    def read_file(self, path: str) -> bytes:
        limit = 256 * 1024 * 1024
        r = self._exec(["cat", "--", self._path(path)], None, self.config.reset_timeout * 4,
                       limit, True)
        if r.returncode != 0:
            raise FileNotFoundError(f"{path} in sandbox {self.name}: {r.text('stderr').strip()}")
        if r.truncated:
            raise SandboxError(f"read_file: {path} is larger than {limit} bytes")
        return r.stdout

    # -- reset ----------------------------------------------------------------------------
    def schedule_reset(self) -> None:
        """Reset lazily: the kill-and-wipe runs at the start of the next command, in the same
        `docker exec` (saves one exec per job). :meth:`reset` or :meth:`flush_reset` force it."""
        if self.broken:
            raise SandboxBroken(f"sandbox {self.name} is broken")
        self.reset_pending = True

    def flush_reset(self) -> None:
        if self.reset_pending:
            self.reset()

    def reset(self) -> None:
        self.reset_pending = False
        if self.broken:
            raise SandboxBroken(f"sandbox {self.name} is broken")
        script = RESET_SCRIPT.replace("{dirs}", self._wipe_dirs)
        try:
            r = self._exec(["sh", "-c", script], None, self.config.reset_timeout, 8192,
                           kill_on_timeout=False)
        except SandboxUnavailable:
            self.broken = True
            raise
        if not r.ok:
            self.broken = True
            raise SandboxBroken(
                f"reset of {self.name} failed (exit {r.returncode}, timed out {r.timed_out}): "
                f"{(r.stderr or r.stdout).decode('utf-8', 'replace').strip()[:300]}"
            )


def _feed_stdin(raw: socket.socket, data: bytes) -> None:
    try:
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)
    except OSError:  # the process exited without reading, or the stream was closed
        pass


def _close_quietly(sock: Any, raw: socket.socket) -> None:
    for obj in (raw, sock):
        try:
            obj.close()
        except Exception:  # noqa: BLE001
            pass
