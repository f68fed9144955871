"""Scale-out on Ray (``--cluster ray[=ADDRESS]``): verification on every node's warm sandbox
pool, generation on engine replicas, lost nodes handled as infrastructure faults.

Imported only with ``--cluster`` (it imports Ray): nothing else in fireassay depends on it.
The driver stays the single writer of the run store and does the host-side comparison; the
nodes run the runner and return its bytes. See ``docs/scaling.md``.
"""
from .engines import ReplicatedEngine, replica_resources
from .executor import ClusterExecutor, ClusterProcessPool
from .fleet import ClusterError, Fleet, FleetStats, Member
from .node import EngineReplica, NodeWorker, quiet_marker
from .session import ClusterSession, ClusterStatus, code_sandbox_config
from .swe import ClusterSWEJudge, RemoteSandbox

__all__ = [
    "ClusterError",
    "ClusterExecutor",
    "ClusterProcessPool",
    "ClusterSWEJudge",
    "ClusterSession",
    "ClusterStatus",
    "EngineReplica",
    "Fleet",
    "FleetStats",
    "Member",
    "NodeWorker",
    "RemoteSandbox",
    "ReplicatedEngine",
    "code_sandbox_config",
    "quiet_marker",
    "replica_resources",
]
