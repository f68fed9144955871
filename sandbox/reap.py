"""Remove fireassay containers left behind by runs that died (their owner pid is gone).

``fireassay sandbox reap`` and every :class:`~sandbox.pool.SandboxPool` start-up call
:func:`reap`. Containers of live owners are left alone unless ``everything=True``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.docker_client import make_client, retrying
from sandbox.labels import L_PID, L_RUN, L_TOOL, TOOL, owner_alive


@dataclass(frozen=True)
class ReapReport:
    removed: tuple[str, ...]  # container names
    kept_alive_owner: int
    kept_other_host: int


def fireassay_containers(client: Any, run_id: str | None = None) -> list[Any]:
    import docker

    flt = [f"{L_TOOL}={TOOL}"] + ([f"{L_RUN}={run_id}"] if run_id else [])

    def listing() -> list[Any]:
        # the SDK inspects each listed container; one removed in between raises NotFound: list again
        for _ in range(10):
            try:
                return client.containers.list(all=True, filters={"label": flt})
            except docker.errors.NotFound:
                continue
        return client.containers.list(all=True, filters={"label": flt})

    return retrying(listing, seconds=30, what="list containers")


def reap(client: Any = None, *, everything: bool = False, run_id: str | None = None,
         other_hosts: bool = False) -> ReapReport:
    """Remove containers whose owner process is dead (or all of ours with ``everything``)."""
    import docker

    client = client or make_client(retry_s=10)
    removed: list[str] = []
    alive = other = 0
    for c in fireassay_containers(client, run_id):
        labels = c.labels or {}
        state = owner_alive(labels)
        if not everything:
            if state is True:
                alive += 1
                continue
            if state is None and not other_hosts:
                other += 1
                continue
        try:
            c.remove(force=True)
            removed.append(c.name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise
    return ReapReport(tuple(removed), alive, other)


__all__ = ["reap", "ReapReport", "fireassay_containers", "L_PID"]
