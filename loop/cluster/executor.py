"""The code oracles' executor on a cluster, and the math oracle's worker pool on one.

:class:`ClusterExecutor` is a :class:`verifiers.code.executors.RunnerExecutor`: the verifiers
take it through their ``executor=`` option and do not know Ray. Each batch of call groups runs
through :func:`verifiers.code.execution.run_groups_with` *on the driver*, whose exec function
is one runner exec on a node's warm sandbox: what crosses the cluster is the job (code, inputs,
limits, a fresh nonce) one way and the runner's raw stdout the other. Parsing the nonce-framed
results and the comparison with the expected outputs stay on the driver, as on one machine.

:class:`ClusterProcessPool` is what :class:`verifiers.math_oracle.MathOracle` takes as ``pool``:
chunks of checks run in the node actors' process pools (hard timeout, memory cap), with the
same fault handling. A math check's result is computed on the node (there is no sandbox output
to re-judge), so the math oracle trusts its nodes; the code oracles do not.
"""
from __future__ import annotations

from typing import Any, Sequence

from sandbox.config import SandboxConfig
from sandbox.procpool import CallResult
from verifiers.code.execution import CallGroup, CodeLimits, ProgramResult, run_groups_with
from verifiers.code.executors import RunnerExecutor

from .fleet import Fleet

# seconds an actor call may take beyond the job's own hard timeout before the node counts as
# hung (its pool may wait out a Docker restart first)
GRACE_S = 300.0


class ClusterExecutor(RunnerExecutor):
    """Runs batches on the fleet's node actors; ``workers`` is every node's sandboxes."""

    def __init__(self, fleet: Fleet, config: SandboxConfig) -> None:
        self.fleet = fleet
        self.config = config
        self.workers = max(1, fleet.slots)

    def run_batches(self, batches: Sequence[Sequence[CallGroup]], limits: CodeLimits,
                    progress: bool = False) -> dict[str, ProgramResult]:
        import ray

        cap = self.config.output_limit

        def one(actor: Any, batch: Sequence[CallGroup]) -> dict[str, ProgramResult]:
            def exec_fn(argv: list[str], stdin: bytes, timeout: float) -> tuple[bytes, bool]:
                out, truncated = ray.get(actor.exec_runner.remote(argv, stdin, timeout),
                                         timeout=timeout + GRACE_S)
                if not isinstance(out, bytes):  # a node sends bytes or nothing we read
                    return b"", False
                if len(out) > cap:  # never more than a local sandbox would hand over
                    return out[:cap], True
                return out, bool(truncated)

            return run_groups_with(exec_fn, batch, limits, python="python3", kill_strays=True,
                                   scratch=self.config.scratch_dirs)

        self.workers = max(1, self.fleet.slots)
        merged: dict[str, ProgramResult] = {}
        for part in self.fleet.run_each(list(batches), one):
            merged.update(part)
        return merged

    def close(self) -> None:
        """The fleet belongs to the cluster session, which closes it."""


class ClusterProcessPool:
    """``map(args) -> [CallResult]`` like :class:`sandbox.procpool.ProcessPool`, over the nodes."""

    def __init__(self, fleet: Fleet, fn_path: str, timeout: float, memory_mb: int,
                 chunk: int = 64) -> None:
        self.fleet = fleet
        self.fn_path = fn_path
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.chunk = chunk

    def map(self, args: Sequence[tuple[Any, ...]]) -> list[CallResult]:
        import ray

        args = list(args)
        size = max(1, min(self.chunk, -(-len(args) // max(1, 2 * self.fleet.slots))))
        chunks = [args[i:i + size] for i in range(0, len(args), size)]

        def one(actor: Any, part: list[tuple[Any, ...]]) -> list[CallResult]:
            got = ray.get(actor.call_each.remote(self.fn_path, self.timeout, self.memory_mb, part),
                          timeout=self.timeout * len(part) + GRACE_S)
            if not isinstance(got, list) or len(got) != len(part) or \
                    not all(isinstance(r, CallResult) for r in got):
                return [CallResult(False, error="the node sent a malformed answer")] * len(part)
            return got

        return [r for part in self.fleet.run_each(chunks, one) for r in part]

    def close(self) -> None:
        """The node actors own their process pools; the cluster session closes them."""
