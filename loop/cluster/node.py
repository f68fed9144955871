"""What runs on a cluster node: one :class:`NodeWorker` actor per node.

It owns that node's warm :class:`sandbox.pool.SandboxPool` (on the node's own Docker daemon)
and, for the math oracle, a :class:`sandbox.procpool.ProcessPool`. It never judges code: it
runs the in-sandbox runner on a job the driver built and returns the runner's stdout bytes as
they came; the driver parses the nonce-framed results and compares them with the expected
outputs, which never leave it. A compromised node can only return bytes, and bytes that do not
carry the job's nonce, in the job's order, are a failed program, never a pass.

For the SWE judge (:mod:`loop.cluster.swe`) it makes instance images and leases containers of
them, one per judging, and runs the judge's commands in them; the judge itself (applying the
patches, the canaries, the checks and the grading) stays on the driver. For ``fireassay doctor
--cluster ... --fix`` it reports and builds images, or loads one the driver shipped
(:mod:`loop.cluster.images`).

Plain classes: :mod:`loop.cluster.fleet` wraps them with ``ray.remote`` at run time, so this
module imports no Ray (:meth:`NodeWorker.load_image` fetches the shipped chunks with it).
"""
from __future__ import annotations

import logging
import re
import secrets
import socket
import threading
from dataclasses import asdict
from typing import Any, Sequence

from sandbox.config import SandboxConfig
from sandbox.errors import SandboxUnavailable
from sandbox.procpool import CallResult
from sandbox.runner import END_PREFIX

log = logging.getLogger(__name__)

# a runner job starts with its nonce (verifiers.code.execution.build_job): read from the first
# bytes only, to tell whether the runner's signed last line said nothing is left running
_NONCE = re.compile(rb'^\{"nonce":"([0-9a-f]{16,64})"')


def quiet_marker(stdin: bytes) -> bytes | None:
    """The runner's signed "nothing left running" line for the job ``stdin``, or None."""
    m = _NONCE.match(stdin[:120])
    return f"{END_PREFIX} {m.group(1).decode()} quiet\n".encode() if m else None


class NodeWorker:
    """The per-node actor. ``slots`` sandboxes (the node's CPUs); the pool starts on the first
    job (``warm`` starts it now)."""

    def __init__(self, config: SandboxConfig, slots: int, backend: str = "docker") -> None:
        self.config = config.with_(pool_size=slots)
        self.slots = slots
        self.backend = backend
        self._pool: Any = None
        self._math: dict[tuple[str, float, int], Any] = {}
        self._swe: dict[tuple[float, SandboxConfig], Any] = {}  # SWE judges (their image pools)
        self._leases: dict[str, tuple[Any, Any]] = {}  # lease id -> (context, sandbox)
        self._lock = threading.Lock()

    # -- checks -----------------------------------------------------------------------------
    def where(self) -> dict[str, Any]:
        import os

        return {"host": socket.gethostname(), "pid": os.getpid()}

    def problems(self, sandboxes: bool = True) -> list[str]:
        """What keeps this node from judging code: no Docker daemon, no sandbox image. Each
        entry names the fix. Empty: ready (``sandboxes`` False: only that the actor runs, for
        work without sandboxes such as math checks)."""
        if self.backend != "docker" or not sandboxes:
            return []
        from sandbox.docker_client import NO_DAEMON_FIX, make_client
        from sandbox.errors import SandboxError
        from sandbox.image import IMAGE_VERSION, image_exists, image_version

        try:
            client = make_client(timeout=10)
        except (SandboxError, OSError) as exc:
            return [f"its Docker daemon does not answer ({str(exc).split('. ')[0][:200]}). Fix: "
                    f"{NO_DAEMON_FIX}"]
        except Exception as exc:  # noqa: BLE001 - the SDK raises its own errors for a bad DOCKER_HOST
            return [f"its Docker daemon does not answer ({type(exc).__name__}: {str(exc)[:200]}). "
                    f"Fix: {NO_DAEMON_FIX}"]
        try:
            if not image_exists(client, self.config.image):
                return [f"it lacks the sandbox image {self.config.image}. Fix: on that node run "
                        f"`fireassay sandbox build` (builds it offline), or copy it from a machine "
                        f"that has it: docker save {self.config.image} | ssh NODE docker load; or from "
                        f"the driver, for every node: fireassay doctor --cluster ray=ADDRESS --fix "
                        f"--image {self.config.image}"]
            version = image_version(client, self.config.image)
            if version is not None and version < IMAGE_VERSION:
                return [f"its sandbox image {self.config.image} is version {version}, this "
                        f"fireassay needs {IMAGE_VERSION}. Fix: on that node run "
                        f"`fireassay sandbox build --image {self.config.image}`"]
        finally:
            client.close()
        self._reap()  # what actors of this node that were killed left behind (a new actor starts here)
        return []

    def doctor(self) -> list[tuple[str, bool, str, str]]:
        """``fireassay sandbox doctor``'s checks, run on this node."""
        from sandbox.doctor import run_checks

        return [(c.name, c.ok, c.detail, c.fix) for c in run_checks(self.config)]

    # -- sandboxes --------------------------------------------------------------------------
    def pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from sandbox.pool import SandboxPool

                self._pool = SandboxPool(self.slots, backend=self.backend, config=self.config)
            return self._pool

    def warm(self) -> int:
        return self.pool().size

    def exec_runner(self, argv: list[str], stdin: bytes, timeout: float) -> tuple[bytes, bool]:
        """One runner exec on a warm, reset sandbox: the runner's stdout as it came, and
        whether the output cap cut it. Infrastructure errors the pool cannot get past raise
        :class:`sandbox.errors.SandboxUnavailable` (the driver runs the job elsewhere)."""
        pool = self.pool()

        def job(sb: Any, _: None) -> tuple[bytes, bool]:
            r = sb.exec(argv, stdin=stdin, timeout=timeout)
            end = quiet_marker(stdin)
            sb.quiet = end is not None and (r.stdout == end or r.stdout.endswith(b"\n" + end))
            return r.stdout, r.truncated

        return pool.map(job, [None])[0]

    # -- SWE judging: the node gives the driver's judge a container; the judge runs there ---
    def _swe_judge(self, timeout: float, config: SandboxConfig) -> Any:
        """This node's :class:`verifiers.swe.judge.SWEJudge` for the driver's settings: it
        makes the instance images here and keeps their warm pools (one container per slot)."""
        from verifiers.swe.judge import SWEJudge

        key = (float(timeout), config)
        with self._lock:
            judge = self._swe.get(key)
            if judge is None:
                if not self._swe and self.backend == "docker":
                    self._reap()  # containers a killed actor of this node left (SWE pools do not reap)
                judge = self._swe[key] = SWEJudge(timeout=timeout, pool_size=self.slots, workers=self.slots,
                                                  config=config, log_fn=log.info)
            return judge

    @staticmethod
    def _reap() -> None:
        from sandbox.reap import reap

        try:
            reap()
        except Exception as exc:  # noqa: BLE001 - best effort: the next run's reaper tries again
            log.info("reaping leftovers failed: %s", exc)

    def swe_image(self, timeout: float, config: SandboxConfig, record: dict[str, Any]) -> dict[str, Any]:
        """The instance's image on this node (found, or built here as on one machine):
        :class:`verifiers.swe.images.InstanceImage`'s fields, or ``{"unavailable": why}``."""
        from verifiers.swe.images import EnvironmentUnavailable
        from verifiers.swe.instance import SWEInstance

        try:
            img = self._swe_judge(timeout, config).image_for(SWEInstance.from_record(record))
        except EnvironmentUnavailable as exc:
            return {"unavailable": str(exc)}
        return asdict(img)

    def swe_open(self, timeout: float, config: SandboxConfig, image: dict[str, Any]) -> tuple[str, str]:
        """Lease a container of ``image`` (a warm, reset one; a fresh one for official images)
        for one judging: (lease id, its work dir). Held until :meth:`swe_close`."""
        from verifiers.swe.images import InstanceImage

        ctx = self._swe_judge(timeout, config).sandbox_for(InstanceImage(**image))
        sb = ctx.__enter__()
        lease = secrets.token_hex(12)
        with self._lock:
            self._leases[lease] = (ctx, sb)
        return lease, sb.workdir

    def _leased(self, lease: str) -> Any:
        with self._lock:
            got = self._leases.get(lease)
        if got is None:
            raise SandboxUnavailable("that container lease is gone on this node")
        return got[1]

    def swe_exec(self, lease: str, argv: list[str], stdin: bytes | None,
                 timeout: float | None) -> tuple[int, bytes, bytes, bool, bool, float]:
        r = self._leased(lease).exec(argv, stdin=stdin, timeout=timeout)
        return r.returncode, r.stdout, r.stderr, r.timed_out, r.truncated, r.duration_s

    def swe_write(self, lease: str, files: dict[str, bytes]) -> None:
        self._leased(lease).write_files(files)

    def swe_read(self, lease: str, path: str) -> bytes:
        return self._leased(lease).read_file(path)

    def swe_healthy(self, lease: str) -> bool:
        return bool(self._leased(lease).healthy())

    def swe_close(self, lease: str, broken: bool = False, unavailable: str | None = None) -> None:
        """Give the container back: reset for the next job, or (``broken``, or the judging hit
        an infrastructure fault: ``unavailable``) closed and replaced."""
        with self._lock:
            got = self._leases.pop(lease, None)
        if got is None:
            return
        ctx, sb = got
        if broken:
            sb.broken = True
        if unavailable is not None:
            exc = SandboxUnavailable(unavailable)
            ctx.__exit__(SandboxUnavailable, exc, None)
        else:
            ctx.__exit__(None, None, None)

    # -- images (``fireassay doctor --cluster ... --fix``) ------------------------------------
    def swe_image_status(self, records: Sequence[dict[str, Any]]) -> list[tuple[str, str, bool, bool]]:
        """For each instance: (id, the image it is judged in here, whether this node has it,
        whether this node can build it: its repository is in fireassay's task set)."""
        from verifiers.swe.images import ImageBuilder
        from verifiers.swe.instance import SWEInstance
        from verifiers.swe.judge import taskset_repo_dir

        builder = ImageBuilder(base_image=self.config.image, log=log.info)
        out = []
        for rec in records:
            inst = SWEInstance.from_record(rec)
            own = taskset_repo_dir(inst) is not None
            tag, have = builder.status(inst, own)
            out.append((inst.instance_id, tag, have, own))
        return out

    def build_swe_image(self, record: dict[str, Any]) -> str:
        """Build the instance image of one of fireassay's own repositories here; its tag."""
        from verifiers.swe.images import EnvironmentUnavailable, ImageBuilder
        from verifiers.swe.instance import SWEInstance
        from verifiers.swe.judge import taskset_repo_dir

        inst = SWEInstance.from_record(record)
        where = taskset_repo_dir(inst)
        if where is None:
            raise EnvironmentUnavailable(f"{inst.instance_id}: its repository is not in fireassay's task set")
        return ImageBuilder(base_image=self.config.image, log=log.info).own_instance(inst, where).tag

    def sandbox_image_version(self) -> int | None:
        """The version label of this node's sandbox image (0: unlabelled), None: absent."""
        from sandbox.docker_client import make_client
        from sandbox.image import image_version

        client = make_client(timeout=30)
        try:
            return image_version(client, self.config.image)
        finally:
            client.close()

    def build_sandbox_image(self) -> str:
        """``fireassay sandbox build`` here: reuse, else pull, else the offline debootstrap build."""
        from sandbox.image import ensure_image

        res = ensure_image(self.config.image, log=log.info)
        return f"{res.tag}: {res.how}"

    def load_image(self, shipment: Any) -> str:
        """The driver's image from the object store, checked, then ``docker load``ed here."""
        from .images import receive_image

        return receive_image(shipment)

    # -- math checks ------------------------------------------------------------------------
    def call_each(self, fn_path: str, timeout: float, memory_mb: int,
                  args: Sequence[tuple[Any, ...]]) -> list[CallResult]:
        """``fn(*a)`` for each ``a`` in this node's process pool (hard timeout, memory cap)."""
        from sandbox.procpool import ProcessPool

        key = (fn_path, float(timeout), int(memory_mb))
        with self._lock:
            pp = self._math.get(key)
            if pp is None:
                pp = self._math[key] = ProcessPool(fn_path, self.slots, timeout, memory_mb)
        return pp.map(list(args))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            maths, self._math = list(self._math.values()), {}
            leases, self._leases = list(self._leases.values()), {}
            judges, self._swe = list(self._swe.values()), {}
        for ctx, sb in leases:  # a driver that went away mid-judging: its containers go too
            sb.broken = True
            ctx.__exit__(None, None, None)
        if pool is not None:
            pool.close()
        for pp in maths:
            pp.close()
        for judge in judges:
            judge.close()


class EngineReplica:
    """One engine on a node: ``create_engine(name, **options)`` there, called by the driver's
    :class:`loop.cluster.engines.ReplicatedEngine`."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        from ..engines import create_engine

        self.engine = create_engine(name, **options)

    def describe(self) -> dict[str, Any]:
        from ..engines import EngineError

        try:
            stop: list[int] | str = sorted(self.engine.stop_token_ids())
        except EngineError as e:  # unknown: an error only where a sampler needs them (FIRE)
            stop = str(e)
        return {"model_name": self.engine.model_name, "stop": stop, "host": socket.gethostname()}

    def generate(self, requests: Sequence[Any]) -> list[list[Any]]:
        return self.engine.generate(requests)

    def chat_token_ids(self, messages: Sequence[Any], add_generation_prompt: bool = True) -> list[int]:
        return self.engine.chat_token_ids(messages, add_generation_prompt)

    def tokenize(self, text: str) -> list[int]:
        return self.engine.tokenize(text)

    def detokenize(self, token_ids: Sequence[int]) -> str:
        return self.engine.detokenize(token_ids)

    def close(self) -> None:
        self.engine.close()
