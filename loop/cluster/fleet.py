"""The node actors of a cluster, and handing them work with back-pressure and fault handling.

One :class:`loop.cluster.node.NodeWorker` per alive node that has CPUs, pinned to it (node
affinity, not soft), with as many sandboxes as the node has CPUs. :meth:`Fleet.run_each` hands
items to the actors, at most ``slots + ahead`` in flight per actor (back-pressure: a
3-million-candidate run never has more than that many jobs queued in Ray's object store). An
actor or node that dies, hangs past the job's own time limit, or whose Docker fails for good is
an infrastructure fault, never a result: the item runs again on another actor (at most
``attempts`` times), new nodes get an actor when one is lost, and nothing is merged from a
faulted try, so every item's result is taken exactly once.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Sequence, TypeVar

from sandbox.config import SandboxConfig
from sandbox.errors import SandboxUnavailable

from .node import NodeWorker

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class ClusterError(RuntimeError):
    """The cluster cannot be used as asked; the message names the node, the problem and the fix."""


class NodeFault(Exception):
    """An infrastructure fault of one node (its actor died, hung or lost its Docker)."""


@dataclass
class Member:
    """One node's actor, as the driver tracks it."""

    node_id: str
    address: str
    actor: Any
    slots: int
    busy: int = 0
    dead: bool = False


@dataclass
class FleetStats:
    done: int = 0  # items finished
    retried: int = 0  # items run again after a fault
    lost_actors: int = 0
    lost_nodes: list[str] = field(default_factory=list)


def ray_faults() -> tuple[type[BaseException], ...]:
    """Ray's exceptions that mean the actor, its node or an object is gone (not the job)."""
    import ray.exceptions as rex

    return (rex.RayActorError, rex.ActorUnavailableError, rex.ObjectLostError, rex.OwnerDiedError,
            rex.NodeDiedError, rex.WorkerCrashedError, rex.LocalRayletDiedError, rex.GetTimeoutError)


class Fleet:
    """The driver's view of the node actors. ``ahead``: items queued per actor beyond its
    sandboxes (0: a batch leaves the driver only when a sandbox is free for it, so the
    heaviest-first batches land where they finish soonest; a batch runs for seconds, its trip
    takes milliseconds); ``attempts``: tries per item; ``wait_s``: how long to wait for a node when none
    is left before giving up (a :class:`SandboxUnavailable`: the run stops, all stored);
    ``only``: use these node ids only (side-by-side benchmarks on one cluster); ``sandboxes``
    False: the work needs no Docker (math checks), a node without it is fine."""

    def __init__(self, config: SandboxConfig, *, ahead: int = 0, attempts: int = 3,
                 wait_s: float = 60.0, only: Collection[str] | None = None, sandboxes: bool = True,
                 on_change: Callable[[], None] | None = None) -> None:
        self.config = config
        self.ahead = ahead
        self.attempts = attempts
        self.wait_s = wait_s
        self.only = frozenset(only) if only is not None else None  # node ids (None: every node)
        self.sandboxes = sandboxes  # nodes must have Docker and the image (False: math checks only)
        self.on_change = on_change
        self.members: dict[str, Member] = {}
        self.stats = FleetStats()
        self._cv = threading.Condition()
        self._faults = ray_faults()
        self._joining = threading.Lock()  # one refresh at a time: one actor per node
        self._token = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)

    # -- membership -------------------------------------------------------------------------
    def alive_nodes(self) -> list[tuple[str, str, int]]:
        """(node id, address, CPUs) of every alive node with at least one CPU."""
        import ray

        out = []
        for n in ray.nodes():
            cpus = int(n.get("Resources", {}).get("CPU", 0) or 0)
            if n.get("Alive") and cpus > 0 and (self.only is None or n["NodeID"] in self.only):
                out.append((n["NodeID"], str(n.get("NodeManagerAddress", "?")), cpus))
        return out

    def _start(self, node_id: str, cpus: int) -> Any:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cls = ray.remote(NodeWorker)
        return cls.options(
            name=f"fireassay-node-{self._token}-{next(self._ids)}",  # an operator (or a test) can find one
            num_cpus=0,  # its sandboxes' CPUs are the node's; engine replicas reserve theirs
            max_concurrency=cpus + self.ahead + 4,  # threaded: its jobs run side by side
            max_restarts=0,  # the driver re-runs a lost batch elsewhere (Fleet.run_each)
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(self.config, cpus)

    def refresh(self, strict: bool = False, timeout: float = 120.0) -> list[str]:
        """Give every alive node with CPUs an actor, and check it (Docker, the image).
        ``strict``: any node that cannot judge is a :class:`ClusterError` naming each, else
        such nodes are left out (logged). Returns the problems found."""
        with self._joining:
            return self._refresh(strict, timeout)

    def _refresh(self, strict: bool, timeout: float) -> list[str]:
        import ray

        with self._cv:
            known = {m.node_id for m in self.members.values() if not m.dead}
        fresh = []
        for node_id, address, cpus in self.alive_nodes():
            if node_id not in known:
                fresh.append(Member(node_id, address, self._start(node_id, cpus), cpus))
        problems: list[str] = []
        if not fresh:
            return problems
        checks = {m.node_id: m.actor.problems.remote(self.sandboxes) for m in fresh}
        for m in fresh:
            try:
                found = ray.get(checks[m.node_id], timeout=timeout)
            except self._faults as exc:
                found = [f"its fireassay actor did not start or died ({type(exc).__name__}: "
                         f"{str(exc)[:300]}). Fix: check that the node is up and has fireassay "
                         "installed (with the same Python as the driver)"]
            except Exception as exc:  # noqa: BLE001 - e.g. an import error on the node
                found = [f"its fireassay actor failed ({type(exc).__name__}: {str(exc)[:300]}). "
                         "Fix: install fireassay (with the same Python) on every node"]
            if found:
                problems.extend(f"node {m.address} ({m.node_id[:12]}): {p}" for p in found)
                ray.kill(m.actor)
                continue
            with self._cv:
                self.members[m.node_id] = m
                self._cv.notify_all()
        if problems and strict:
            self.close()
            raise ClusterError("; ".join(problems))
        for p in problems:
            log.warning("left out: %s", p)
        self._changed()
        return problems

    def on_each_node(self, fn: Callable[[Any, str], R]) -> list[tuple[str, R | BaseException]]:
        """``fn(actor, node)`` on every alive node with CPUs at once, each through a short-lived
        actor there (``node``: "address (id)"): [(node, its result, or the exception it raised)]."""
        nodes = self.alive_nodes()

        def one(node: tuple[str, str, int]) -> tuple[str, R | BaseException]:
            import ray

            node_id, address, cpus = node
            where = f"{address} ({node_id[:12]})"
            actor = self._start(node_id, cpus)
            try:
                return where, fn(actor, where)
            except Exception as exc:  # noqa: BLE001 - reported as that node's failure
                return where, getattr(exc, "cause", None) or exc
            finally:
                ray.kill(actor)

        if not nodes:
            return []
        with ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="cluster-node") as ex:
            return list(ex.map(one, nodes))

    def doctor(self, timeout: float = 180.0) -> list[tuple[str, list[tuple[str, bool, str, str]]]]:
        """``fireassay sandbox doctor``'s checks on every alive node with CPUs, each through a
        short-lived actor there: [(node address, [(check, ok, detail, fix)])]."""
        import ray

        out = []
        for where, got in self.on_each_node(lambda a, _: ray.get(a.doctor.remote(), timeout=timeout)):
            if isinstance(got, BaseException):
                got = [("fireassay on the node", False, f"{type(got).__name__}: {str(got)[:300]}",
                        "install fireassay (with the same Python) on every node")]
            out.append((where, got))
        return out

    def live(self) -> list[Member]:
        with self._cv:
            return [m for m in self.members.values() if not m.dead]

    @property
    def slots(self) -> int:
        return sum(m.slots for m in self.live())

    def in_flight(self) -> int:
        with self._cv:
            return sum(m.busy for m in self.members.values() if not m.dead)

    def warm(self) -> None:
        """Start every actor's sandbox pool now (in parallel)."""
        import ray

        ray.get([m.actor.warm.remote() for m in self.live()])

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- work -------------------------------------------------------------------------------
    def _acquire(self, avoid: set[str]) -> Member:
        """The least busy live actor with room (not one in ``avoid`` unless it is the only
        one left); waits for room, and for a node when none is left (up to ``wait_s``)."""
        deadline = time.monotonic() + self.wait_s
        with self._cv:
            while True:
                live = [m for m in self.members.values() if not m.dead]
                room = [m for m in live if m.busy < m.slots + self.ahead]
                pick = [m for m in room if m.node_id not in avoid] or \
                    (room if all(m.node_id in avoid for m in live) else [])
                if pick:
                    m = min(pick, key=lambda m: m.busy / m.slots)
                    m.busy += 1
                    return m
                if not live:
                    if time.monotonic() > deadline:
                        raise SandboxUnavailable(
                            f"no cluster node is left to run on (waited {self.wait_s:.0f}s for one to join)")
                    self._cv.release()
                    try:
                        self.refresh()
                    finally:
                        self._cv.acquire()
                    if not any(not m.dead for m in self.members.values()):
                        self._cv.wait(2.0)
                    continue
                self._cv.wait(1.0)

    def _release(self, m: Member) -> None:
        with self._cv:
            m.busy -= 1
            self._cv.notify_all()
        self._changed()

    def _lose(self, m: Member, why: BaseException) -> None:
        import ray

        with self._cv:
            if m.dead:
                return
            m.dead = True
            self.stats.lost_actors += 1
            self.stats.lost_nodes.append(m.address)
            self._cv.notify_all()
        log.warning("cluster node %s (%s) lost: %s: %s; its work runs elsewhere",
                    m.address, m.node_id[:12], type(why).__name__, str(why)[:200])
        try:
            ray.kill(m.actor)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.refresh(timeout=30.0)  # a node still alive gets a new actor; new nodes join

    def fault_of(self, exc: BaseException) -> bool:
        """Whether ``exc`` (from ``ray.get`` of an actor call) is an infrastructure fault."""
        return isinstance(exc, self._faults) or isinstance(exc, (SandboxUnavailable, NodeFault))

    def run_each(self, items: Sequence[T], fn: Callable[[Any, T], R],
                 give_up: Callable[[T, BaseException], R] | None = None) -> list[R]:
        """``[fn(actor, item) for item in items]`` over the actors, in order. ``fn`` calls its
        actor (``ray.get``) and returns the result; a fault (see :meth:`fault_of`) runs the item
        again on another actor, up to ``attempts`` tries, then ``give_up(item, last fault)`` is
        its result (None: raises :class:`SandboxUnavailable`, which stops the map). No node left
        at all raises :class:`SandboxUnavailable`. Any other exception stops the map and is raised."""
        items = list(items)
        if not items:
            return []

        def one(item: T) -> R:
            tried: set[str] = set()
            last: BaseException | None = None
            for attempt in range(self.attempts):
                m = self._acquire(tried)
                log.debug("job on node %s (%s)", m.node_id, m.address)
                try:
                    out = fn(m.actor, item)
                except BaseException as exc:
                    self._release(m)
                    if not self.fault_of(exc):
                        raise
                    last = exc
                    tried.add(m.node_id)
                    with self._cv:
                        self.stats.retried += 1
                    if isinstance(exc, (SandboxUnavailable,)) or not isinstance(exc, self._faults):
                        log.warning("node %s: %s (try %d/%d); the job runs again elsewhere",
                                    m.address, str(exc)[:200], attempt + 1, self.attempts)
                    else:
                        self._lose(m, exc)
                    continue
                self._release(m)
                with self._cv:
                    self.stats.done += 1
                return out
            if give_up is not None and last is not None:
                log.warning("a cluster job failed on %d tries, each an infrastructure fault; it is "
                            "marked, the rest go on (last: %s: %s)", self.attempts, type(last).__name__,
                            str(last)[:200])
                return give_up(item, last)
            raise SandboxUnavailable(f"a cluster job failed on {self.attempts} tries, each an "
                                     f"infrastructure fault; the last: {type(last).__name__}: {last}")

        capacity = max(1, sum(m.slots + self.ahead for m in self.live()))
        with ThreadPoolExecutor(max_workers=min(len(items), capacity), thread_name_prefix="cluster") as ex:
            futures = [ex.submit(one, it) for it in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def close(self) -> None:
        import ray

        with self._cv:
            members = list(self.members.values())
            self.members.clear()
        refs = []
        for m in members:
            if not m.dead:
                try:
                    refs.append(m.actor.close.remote())
                except Exception:  # noqa: BLE001 - best effort
                    pass
        if refs:
            try:
                ray.wait(refs, num_returns=len(refs), timeout=60)
            except Exception:  # noqa: BLE001 - best effort; the node's reaper removes leftovers
                pass
        for m in members:
            try:
                ray.kill(m.actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
