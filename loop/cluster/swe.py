"""The SWE oracles on a cluster: each patch is judged in a container on a node, by the driver.

:class:`ClusterSWEJudge` is an :class:`verifiers.swe.judge.SWEJudge` whose containers live on
the nodes. Everything the judge does on the host stays on the driver: refusing forbidden
patches, applying the patches to the files read from the container, choosing and hiding the
canary tests, reading the supervisor's nonce-framed result line, the integrity and tampering
checks and the resolution rule. What crosses the cluster is the judge's few commands and files
one way (:class:`RemoteSandbox`) and their output bytes the other; the node makes the
instance's image (found, or built there as on one machine) and keeps its warm containers.
The in-container layers (the HMAC-signed record channel, the audit hook, the identity checks)
are the same files, run the same way.

A node's answers are bounded and checked (output capped at the local sandbox's limit, every
field's type, the image it names): a malformed answer is an infrastructure fault of that node.
A fault (the node or its actor lost, its Docker gone, a malformed answer) judges the patch
again on another node; after ``attempts`` tries the patch is marked ``error`` (unjudged), the
others go on. Only a cluster with no node left stops the run (everything judged is stored).
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

from sandbox.base import ExecResult, Sandbox
from sandbox.config import SandboxConfig
from sandbox.errors import SandboxError
from verifiers.swe.images import INST_REPO, EnvironmentUnavailable, InstanceImage
from verifiers.swe.instance import SWEInstance
from verifiers.swe.judge import JudgeResult, Mode, SWEJudge

from .executor import GRACE_S
from .fleet import Fleet, NodeFault

_PATH = re.compile(r"^/[A-Za-z0-9._/-]{0,200}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,200}:[A-Za-z0-9._-]{1,128}$")
MAX_REASON = 4000  # characters of a node's "environment unavailable" kept


def checked_image(answer: Any) -> InstanceImage | str:
    """A node's answer to ``swe_image``: the image, or why there is none (a str); anything
    else raises :class:`NodeFault`."""
    if isinstance(answer, dict) and set(answer) == {"unavailable"} and isinstance(answer["unavailable"], str):
        return answer["unavailable"][:MAX_REASON]
    fields = ("tag", "repo_dir", "python", "official", "how")
    if not isinstance(answer, dict) or set(answer) != set(fields):
        raise NodeFault("the node sent a malformed image description")
    tag, repo_dir, python, official, how = (answer[f] for f in fields)
    if not (isinstance(tag, str) and _TAG.match(tag) and tag.startswith(INST_REPO + ":")
            and isinstance(repo_dir, str) and _PATH.match(repo_dir)
            and isinstance(python, str) and (python == "python3" or _PATH.match(python))
            and isinstance(official, bool) and how in ("existing", "built", "official")):
        raise NodeFault(f"the node named an image this judge does not make: {str(answer)[:300]}")
    return InstanceImage(tag, repo_dir, python, official, how)


def checked_exec(answer: Any, cap: int) -> ExecResult:
    """A node's answer to ``swe_exec`` as an :class:`ExecResult`, each stream cut at ``cap``
    bytes (never more than a local sandbox hands over); anything malformed raises
    :class:`NodeFault`."""
    if not (isinstance(answer, tuple) and len(answer) == 6):
        raise NodeFault("the node sent a malformed command result")
    rc, out, err, timed_out, truncated, duration = answer
    if not (type(rc) is int and -256 <= rc <= 255 and type(out) is bytes and type(err) is bytes
            and type(timed_out) is bool and type(truncated) is bool
            and type(duration) in (int, float) and 0 <= duration < 1e7):
        raise NodeFault("the node sent a malformed command result")
    if len(out) > cap or len(err) > cap:
        out, err, truncated = out[:cap], err[:cap], True
    return ExecResult(rc, out, err, timed_out, truncated, float(duration))


def node_call(ref: Any, timeout: float) -> Any:
    """``ray.get(ref)`` of a node actor's call. An exception raised on the node other than a
    sandbox error (which the judge handles as on one machine) is the node's fault."""
    import ray
    from ray.exceptions import RayTaskError

    try:
        return ray.get(ref, timeout=timeout)
    except RayTaskError as exc:
        if isinstance(exc, SandboxError):
            raise
        cause = getattr(exc, "cause", None) or exc
        raise NodeFault(f"the node failed: {type(cause).__name__}: {str(cause)[:300]}") from None


class RemoteSandbox(Sandbox):
    """A container leased on a node, as the judge sees a sandbox: each method is one call of
    the node's actor, each answer checked and bounded here."""

    backend = "ray-node"
    owns_user = True

    def __init__(self, actor: Any, lease: str, workdir: str, config: SandboxConfig) -> None:
        self.actor = actor
        self.lease = lease
        self.workdir = workdir
        self.config = config
        self.run_id = ""

    def exec(self, cmd: list[str], stdin: bytes | None = None,
             timeout: float | None = None) -> ExecResult:
        limit = timeout if timeout is not None else self.config.exec_timeout
        got = node_call(self.actor.swe_exec.remote(self.lease, list(cmd), stdin, timeout), limit + GRACE_S)
        return checked_exec(got, self.config.output_limit)

    def write_files(self, files: Mapping[str, bytes | str]) -> None:
        data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        node_call(self.actor.swe_write.remote(self.lease, data), 120 + GRACE_S)

    def read_file(self, path: str) -> bytes:
        got = node_call(self.actor.swe_read.remote(self.lease, path), 120 + GRACE_S)
        if not isinstance(got, bytes):
            raise NodeFault("the node sent a malformed file")
        return got[:self.config.output_limit]

    def reset(self) -> None:
        raise SandboxError("a node's container is reset by its pool when it is given back")

    def healthy(self) -> bool:
        return node_call(self.actor.swe_healthy.remote(self.lease), 60 + GRACE_S) is True

    def close(self) -> None:
        """The lease is given back by :meth:`ClusterSWEJudge.leased`."""


class ClusterSWEJudge(SWEJudge):
    """Judges (instance, patch) pairs in containers on the fleet's nodes (see the module)."""

    def __init__(self, fleet: Fleet, *, timeout: float = 300.0, pool_size: int = 2,
                 workers: int | None = None) -> None:
        super().__init__(timeout=timeout, pool_size=pool_size, workers=workers)
        self.fleet = fleet

    @contextmanager
    def leased(self, actor: Any, img: InstanceImage) -> Iterator[RemoteSandbox]:
        """A container of ``img`` on ``actor``'s node for one judging, given back after it (or
        discarded: after an infrastructure fault, or when the judge found it broken)."""
        config = self.config_for(img)
        got = node_call(actor.swe_open.remote(self.timeout, self.base_config, _fields(img)),
                        config.exec_timeout + GRACE_S)
        if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(x, str) for x in got)
                and re.fullmatch(r"[0-9a-f]{24}", got[0]) and _PATH.match(got[1])):
            raise NodeFault("the node sent a malformed container lease")
        sb = RemoteSandbox(actor, got[0], got[1], config)
        fault: str | None = None
        try:
            yield sb
        except BaseException as exc:
            if self.fleet.fault_of(exc):
                fault = f"{type(exc).__name__}: {str(exc)[:300]}"
            raise
        finally:
            try:
                node_call(actor.swe_close.remote(sb.lease, bool(sb.broken), fault), 60 + GRACE_S)
            except Exception:  # noqa: BLE001 - a lost node's containers go with it (or its reaper)
                pass

    def judge_on(self, actor: Any, inst: SWEInstance, patch: str, mode: Mode) -> JudgeResult:
        """One judging on ``actor``'s node. Infrastructure faults raise (the fleet runs it
        again elsewhere); sandbox errors are the patch's ``error`` result, as on one machine."""
        t0 = time.monotonic()
        iid = inst.instance_id
        answer = node_call(actor.swe_image.remote(self.timeout, self.base_config, inst.to_record()),
                           3600 + GRACE_S)  # a first use may build the image there
        img = checked_image(answer)
        if isinstance(img, str):
            return JudgeResult(iid, "unavailable", img, duration_s=time.monotonic() - t0)
        try:
            with self.leased(actor, img) as sb:
                res = self.judge_in(sb, inst, img, patch, mode)
        except SandboxError as exc:
            if self.fleet.fault_of(exc):
                raise
            return JudgeResult(iid, "error", f"sandbox error: {exc}", image=img.tag,
                               duration_s=time.monotonic() - t0)
        return _with_duration(res, time.monotonic() - t0)

    def judge_many(self, items: Sequence[tuple[SWEInstance, str]], mode: Mode = "oracle",
                   progress: bool = False) -> list[JudgeResult]:
        """Every pair judged on the nodes (the cluster's progress bar shows them)."""
        items = list(items)
        early = [self.precheck(inst, patch, mode) for inst, patch in items]
        todo = [i for i, e in enumerate(early) if e is None]

        def one(actor: Any, i: int) -> JudgeResult:
            inst, patch = items[i]
            return self.judge_on(actor, inst, patch, mode)

        def give_up(i: int, last: BaseException) -> JudgeResult:
            return JudgeResult(items[i][0].instance_id, "error", "sandbox unavailable on every node "
                               f"tried: {type(last).__name__}: {str(last)[:300]}")

        judged = dict(zip(todo, self.fleet.run_each(todo, one, give_up=give_up)))
        return [early[i] if early[i] is not None else judged[i] for i in range(len(items))]

    def judge(self, inst: SWEInstance, patch: str, mode: Mode = "oracle") -> JudgeResult:
        return self.judge_many([(inst, patch)], mode)[0]

    def image_for(self, inst: SWEInstance) -> InstanceImage:
        raise EnvironmentUnavailable("on a cluster each node makes the instance images it judges in")


def _fields(img: InstanceImage) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(img)


def _with_duration(res: JudgeResult, seconds: float) -> JudgeResult:
    from dataclasses import replace

    return replace(res, duration_s=seconds)
