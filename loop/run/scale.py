"""``--cluster``: where a command's verification (and generation) runs. Without a cluster
nothing here imports :mod:`loop.cluster` (nor Ray)."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from verifiers.registry import verifier_options

from .config import cluster_address

Placement = Callable[[str], dict[str, Any]]  # verifier name -> options that place its work


SANDBOX_PLACEMENTS = frozenset({"executor", "judge_factory"})  # options of verifiers that run code


def needs_sandboxes(names: Iterable[str | None]) -> bool:
    """Whether any of these verifiers runs code (takes an ``executor``, or a ``judge_factory``
    like the SWE verifiers): then every cluster node must have Docker and the sandbox image."""
    return any(n is not None and SANDBOX_PLACEMENTS & (verifier_options(n) or frozenset()) for n in names)


def connect_cluster(spec: str, sandbox_verifiers: Iterable[str | None]) -> Any:
    """A :class:`loop.cluster.ClusterSession` for ``--cluster spec``; a
    :class:`loop.cluster.ClusterError` (or ValueError for a malformed spec) names the fix."""
    from ..cluster import ClusterSession

    return ClusterSession.connect(cluster_address(spec), need_sandboxes=needs_sandboxes(sandbox_verifiers))


def no_placement(name: str) -> dict[str, Any]:
    """Every verifier as on one machine."""
    return {}


def watch_cluster(session: Any, bars: Any) -> None:
    """A progress bar of the cluster's batches, its note the nodes, replicas and batches in flight."""
    bar = bars.counter("cluster batches")
    seen = [0]

    def show(status: Any) -> None:
        if status.done > seen[0]:
            bar.advance(status.done - seen[0])
            seen[0] = status.done
        bar.note(status.line())

    session.watch(show)
