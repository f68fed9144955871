"""One command's use of a Ray cluster: connect, check every node, hand out the executors.

    with ClusterSession.connect("auto") as cluster:          # --cluster ray=auto
        oracle = create_verifier("evalplus", **cluster.verifier_options("evalplus"))
        engine = cluster.engine("llamacpp", {}, replicas=2)   # --engine-replicas 2

Connecting checks, before anything is computed or written, that the address answers and that
every node with CPUs can judge code (its Docker daemon answers and has the sandbox image); each
refusal is one :class:`ClusterError` naming the node and the fix. The driver (this process)
stays the single writer of the run store: nodes return runner output bytes, generated texts and
math check results, never rows.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable

from sandbox.config import MIB, SandboxConfig
from verifiers.registry import verifier_options

from .executor import ClusterExecutor, ClusterProcessPool
from .fleet import ClusterError, Fleet

log = logging.getLogger(__name__)

NAMESPACE = "fireassay"


def host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port`` or ``ray://host:port``; None for ``auto``, ``local``
    and empty (Ray finds those itself, quickly)."""
    rest = address.strip()
    if rest.startswith("ray://"):
        rest = rest[len("ray://"):]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def code_sandbox_config() -> SandboxConfig:
    """The sandboxes the code oracles use on one machine (``verifiers.code.execution``'s
    default executor): EvalPlus' 4 GiB, room for the result lines of big batches."""
    return SandboxConfig(memory="4g", output_limit=512 * MIB)


@dataclass(frozen=True)
class ClusterStatus:
    """What the progress line shows."""

    nodes: int
    slots: int  # sandboxes over all nodes
    replicas: int  # engine replicas (0: the engine is local)
    in_flight: int  # batches running or queued on the nodes
    done: int  # batches finished
    retried: int  # batches run again after a fault
    lost: int  # node actors lost

    def line(self) -> str:
        text = f"{self.nodes} nodes ({self.slots} sandboxes)"
        if self.replicas:
            text += f", {self.replicas} engine replicas"
        text += f", {self.in_flight} batches in flight, {self.done} done"
        if self.retried or self.lost:
            text += f", {self.retried} re-run after {self.lost} lost nodes"
        return text


class ClusterSession:
    """Connected to Ray; owns the node actors and engine replicas it starts (closed by
    :meth:`close`). Build with :meth:`connect`."""

    def __init__(self, address: str | None, fleet: Fleet, started_local: bool) -> None:
        self.address = address
        self.fleet = fleet
        self.started_local = started_local
        self.engines: list[Any] = []
        self._executor: ClusterExecutor | None = None
        self._watchers: list[Callable[[ClusterStatus], None]] = []
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, address: str | None, *, sandbox_config: SandboxConfig | None = None,
                need_sandboxes: bool = True, connect_timeout: float = 10.0) -> "ClusterSession":
        """Connect to Ray at ``address`` (``auto``, ``ray://host:10001``, ``host:6379``; None:
        ``$RAY_ADDRESS`` or a local Ray started here), start one actor per node with CPUs and
        check them (``need_sandboxes``: every such node must have Docker and the image)."""
        try:
            import ray
        except ImportError:
            raise ClusterError("--cluster ray needs Ray: pip install 'fireassay[ray]' "
                               "(make venv installs it)") from None
        started_local = not address and not os.environ.get("RAY_ADDRESS")
        where = address or os.environ.get("RAY_ADDRESS") or "a local Ray started here"
        fix = ("Fix: start it (`ray start --head` there, `ray start --address HEAD:6379` on each "
               "node) or give its address: --cluster ray=HOST:6379 (or ray=ray://HOST:10001, "
               "ray=auto on a node of it)")
        hostport = host_port(address or os.environ.get("RAY_ADDRESS") or "")
        if hostport is not None:  # Ray itself waits minutes on an address nobody answers
            try:
                socket.create_connection(hostport, timeout=connect_timeout).close()
            except OSError as exc:
                raise ClusterError(f"cannot connect to the Ray cluster at {where}: nothing answers "
                                   f"there ({exc.strerror or exc}). {fix}") from None
        try:
            ray.init(address=address or None, namespace=NAMESPACE, logging_level=logging.WARNING,
                     log_to_driver=False, include_dashboard=False if started_local else None,
                     ignore_reinit_error=True)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds here; each means the same fix
            raise ClusterError(f"cannot connect to the Ray cluster at {where}: "
                               f"{str(exc).splitlines()[0][:300]}. {fix}") from None
        fleet = Fleet(sandbox_config or code_sandbox_config(), sandboxes=need_sandboxes)
        session = cls(address, fleet, started_local)
        fleet.on_change = session._notify
        try:  # every node's actor started and checked now, before any work
            if need_sandboxes and not fleet.alive_nodes():
                raise ClusterError(f"the Ray cluster at {where} has no node with CPUs to judge "
                                   "on. Fix: join nodes with `ray start --address HEAD:6379`")
            fleet.refresh(strict=True)
        except BaseException:
            session.close()
            raise
        return session

    # -- what the verifiers and the loop take ------------------------------------------------
    def executor(self) -> ClusterExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ClusterExecutor(self.fleet, self.fleet.config)
            return self._executor

    def math_pool(self, fn_path: str, timeout: float, memory_mb: int) -> ClusterProcessPool:
        return ClusterProcessPool(self.fleet, fn_path, timeout, memory_mb)

    def swe_judge(self, **options: Any) -> Any:
        """A :class:`loop.cluster.swe.ClusterSWEJudge` (the SWE verifiers' ``judge_factory``)."""
        from .swe import ClusterSWEJudge

        return ClusterSWEJudge(self.fleet, **options)

    def verifier_options(self, name: str) -> dict[str, Any]:
        """Options that put verifier ``name``'s work on the cluster: ``executor=`` for the
        code oracles and public tests, ``judge_factory=`` for the SWE oracle and feedback,
        ``pool_factory=`` for the math oracle; {} for the rest (they run on the driver)."""
        takes = verifier_options(name) or frozenset()
        if "executor" in takes:
            return {"executor": self.executor()}
        if "judge_factory" in takes:
            return {"judge_factory": self.swe_judge}
        if "pool_factory" in takes:
            return {"pool_factory": self.math_pool}
        return {}

    def engine(self, name: str, options: dict[str, Any], replicas: int) -> Any:
        from .engines import ReplicatedEngine

        eng = ReplicatedEngine(name, options, replicas)
        with self._lock:
            self.engines.append(eng)
        self._notify()
        return eng

    # -- progress ---------------------------------------------------------------------------
    def status(self) -> ClusterStatus:
        live = self.fleet.live()
        st = self.fleet.stats
        return ClusterStatus(len(live), sum(m.slots for m in live),
                             sum(e.replicas for e in self.engines), self.fleet.in_flight(),
                             st.done, st.retried, st.lost_actors)

    def watch(self, fn: Callable[[ClusterStatus], None]) -> None:
        """Call ``fn(status)`` now and whenever a batch starts or ends, or a node is lost."""
        self._watchers.append(fn)
        fn(self.status())

    def _notify(self) -> None:
        if self._watchers:
            s = self.status()
            for fn in list(self._watchers):
                fn(s)

    def close(self) -> None:
        import ray

        for e in self.engines:
            e.close()
        self.engines = []
        self.fleet.close()
        ray.shutdown()

    def __enter__(self) -> "ClusterSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
