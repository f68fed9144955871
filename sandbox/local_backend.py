"""The ``local`` backend: a subprocess with rlimits in a temporary directory.

THIS IS NOT ISOLATION. The code runs as you, on this machine, with your network and your
files. It exists for machines without Docker and for trusted code (e.g. canonical solutions),
and it refuses to start unless asked for by name with an explicit opt-in
(``allow_unsafe=True`` or ``FIREASSAY_ALLOW_UNSAFE_LOCAL=1``). It is never a fallback.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

from sandbox.base import ExecResult, Sandbox
from sandbox.config import SandboxConfig
from sandbox.errors import SandboxError, UnsafeBackendRefused

OPT_IN_ENV = "FIREASSAY_ALLOW_UNSAFE_LOCAL"
REFUSAL = (
    "the 'local' sandbox backend is NOT isolation: candidate code would run as you on this "
    "machine, with your network and files. To use it anyway, ask for it by name and opt in: "
    "open_sandbox('local', allow_unsafe=True) or SandboxPool(backend='local', allow_unsafe=True)"
    f", or set {OPT_IN_ENV}=1. For untrusted code use the docker backend "
    "(`fireassay sandbox doctor` says what is missing)."
)


class LocalSandbox(Sandbox):
    """A temporary folder and subprocesses with rlimits (see the module's docstring). Its own
    keyword: ``allow_unsafe`` (the opt-in)."""

    backend = "local"
    owns_user = False  # the code runs as you: "every process of the uid" includes yours

    def __init__(self, config: SandboxConfig | None = None, *, run_id: str | None = None,
                 kind: str = "sandbox", allow_unsafe: bool = False) -> None:
        if not (allow_unsafe or os.environ.get(OPT_IN_ENV) == "1"):
            raise UnsafeBackendRefused(REFUSAL)
        warnings.warn("fireassay local sandbox: NOT isolation, code runs as the current user",
                      stacklevel=2)
        self.config = config or SandboxConfig()
        self.run_id = run_id or ""
        tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in kind)[:32]
        self._root = Path(tempfile.mkdtemp(prefix=f"fireassay-local-{tag}-"))
        self.workdir = str(self._root)
        self._groups: set[int] = set()
        self._closed = False
        self.broken = False

    def _limits(self) -> None:  # runs in the child between fork and exec
        cfg = self.config
        mem = cfg.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fsize = cfg.workdir_bytes
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    def exec(self, cmd: list[str], stdin: bytes | None = None,
             timeout: float | None = None) -> ExecResult:
        if self._closed:
            raise SandboxError("exec on a closed sandbox")
        if isinstance(cmd, str) or not cmd:
            raise TypeError("cmd must be a non-empty list of arguments")
        timeout = self.config.exec_timeout if timeout is None else float(timeout)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.workdir,
               "TMPDIR": self.workdir, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               **dict(self.config.env)}
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [str(a) for a in cmd], cwd=self.workdir, env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=self._limits,
        )
        self._groups.add(proc.pid)
        cap = self.config.output_limit
        bufs = [bytearray(), bytearray()]
        trunc = [False, False]

        def pump(i: int, stream: Any) -> None:
            while True:
                chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
                if not chunk:
                    break
                room = cap - len(bufs[i])
                if room > 0:
                    bufs[i] += chunk[:room]
                if len(chunk) > room:
                    trunc[i] = True

        readers = [threading.Thread(target=pump, args=(i, s), daemon=True)
                   for i, s in enumerate((proc.stdout, proc.stderr))]
        for t in readers:
            t.start()
        if stdin is not None:
            def feed() -> None:
                try:
                    proc.stdin.write(stdin)  # type: ignore[union-attr]
                    proc.stdin.close()  # type: ignore[union-attr]
                except OSError:
                    pass
            threading.Thread(target=feed, daemon=True).start()
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill_group(proc.pid)
            proc.wait()
        # children that keep the pipes open must not hold us past the limit
        for t in readers:
            t.join(max(0.0, t0 + timeout - time.monotonic()) + 0.5)
        if any(t.is_alive() for t in readers):
            self._kill_group(proc.pid)
            for t in readers:
                t.join(1.0)
        code = -9 if timed_out else proc.returncode
        return ExecResult(code, bytes(bufs[0]), bytes(bufs[1]), timed_out, any(trunc),
                          time.monotonic() - t0)

    def _kill_group(self, pgid: int) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _inside(self, path: str) -> Path:
        p = (self._root / path).resolve()
        if p != self._root and self._root not in p.parents:
            raise ValueError(f"{path!r} must be a path inside the work dir")
        return p

    def write_files(self, files: Mapping[str, bytes | str]) -> None:
        for rel, data in files.items():
            if rel.startswith("/"):
                raise ValueError(f"write_files: {rel!r} must be relative to the work dir")
            p = self._inside(rel)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data.encode() if isinstance(data, str) else data)

    def read_file(self, path: str) -> bytes:
        return self._inside(path).read_bytes()

    def reset(self) -> None:
        for pgid in list(self._groups):
            self._kill_group(pgid)
        self._groups.clear()
        for child in self._root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for pgid in list(self._groups):
            self._kill_group(pgid)
        shutil.rmtree(self._root, ignore_errors=True)
