"""Judging one model patch against one instance in a Docker sandbox.

Flow per (instance, patch): refuse a forbidden patch -> get the instance's image (ours: built
on demand; official ``sweb.eval`` images: used when present; else "environment unavailable")
-> lease a warm container of that image -> copy the repository into the work dir -> read the
files both patches touch -> apply on the host (git apply / --3way / patch --fuzz), then the test
patch -> write the results back -> run the tests under the in-container supervisor with a
timeout -> per-test outcomes from the trusted reporter (or a repository's log parser) ->
integrity and tampering checks (the reporter's records, and canary tests the judge hides
among the real ones: :mod:`verifiers.swe.canaries`) -> the resolution rule.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

from sandbox.base import Sandbox
from sandbox.config import MIB, SandboxConfig
from sandbox.errors import SandboxBroken, SandboxError, SandboxUnavailable

from . import canaries as canary_tests
from .diffs import files_in_diff
from .grading import Grade, grade
from .images import EnvironmentUnavailable, ImageBuilder, InstanceImage, tar_members
from .incontainer import source
from .instance import SWEInstance
from .patching import ApplyOutcome, PatchRefused, apply_patches, check_patch
from .results import LOG_PARSERS, TestRun, find_result_line, run_from_supervisor
from .runners import runner_for

log = logging.getLogger(__name__)

Status = Literal["resolved", "unresolved", "patch_failed", "refused", "unavailable", "error"]
Mode = Literal["oracle", "feedback"]
LOG_TAIL = 32 * 1024
FULL_LOG = 6 * 1024 * 1024  # < the 8 MiB output cap of the judge's sandboxes
READ = 'dst="$2"; shift 2; [ "$#" -eq 0 ] && exit 0; exec tar -c -f - --ignore-failed-read -C "$dst" -- "$@"'
COPY_AND_READ = (
    'src="$1"; dst="$2"; shift 2; cp -R "$src" "$dst" || exit 90; '
    '[ "$#" -eq 0 ] && exit 0; exec tar -c -f - --ignore-failed-read -C "$dst" -- "$@"'
)


@dataclass(frozen=True)
class JudgeResult:
    instance_id: str
    status: Status
    reason: str
    apply_method: str | None = None
    apply_log: str = ""
    grade: Grade | None = None
    run: TestRun | None = None
    duration_s: float = 0.0
    image: str = ""
    tests_run: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    error_kind: str | None = None  # "tampering": the test process forged outcomes

    @property
    def resolved(self) -> bool | None:
        """True/False for a judged patch; None when it could not be judged."""
        if self.status == "resolved":
            return True
        if self.status in ("unresolved", "patch_failed", "refused"):
            return False
        return None


class SWEJudge:
    """Judges (instance, patch) pairs. Keeps one warm pool per image (LRU, ``max_pools``).

    ``own_repo_dir(instance)`` returns the host folder of one of our own repositories (or None);
    by default the built-in task set is asked.
    """

    def __init__(self, *, timeout: float = 300.0, pool_size: int = 2, max_pools: int = 16,
                 workers: int | None = None, builder: ImageBuilder | None = None,
                 config: SandboxConfig | None = None,
                 own_repo_dir: Callable[[SWEInstance], Path | None] | None = None,
                 log_fn: Callable[[str], None] | None = None) -> None:
        self.timeout = float(timeout)
        self.pool_size = pool_size
        self.max_pools = max_pools
        self.workers = workers
        self._builder = builder
        self._log = log_fn or _stderr  # image builds take a while: say what is happening
        self.base_config = config or SandboxConfig(
            memory="2g", workdir_size="512m", tmp_size="256m", output_limit=8 * MIB,
            exec_timeout=self.timeout + 60, pids=512,
        )
        self._own_repo_dir = own_repo_dir or taskset_repo_dir
        self._pools: "OrderedDict[str, Any]" = OrderedDict()
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()
        self._images: dict[str, InstanceImage] = {}
        self._image_locks: dict[str, threading.Lock] = {}
        self.image_seconds = 0.0  # time spent making images (cold cost)

    # -- images -----------------------------------------------------------------------------
    @property
    def builder(self) -> ImageBuilder:
        if self._builder is None:
            self._builder = ImageBuilder(log=self._log)
        return self._builder

    def image_for(self, inst: SWEInstance) -> InstanceImage:
        with self._lock:
            if inst.instance_id in self._images:
                return self._images[inst.instance_id]
            lk = self._image_locks.setdefault(inst.instance_id, threading.Lock())
        with lk:
            if inst.instance_id in self._images:
                return self._images[inst.instance_id]
            t0 = time.monotonic()
            img = self.builder.official(inst)
            if img is None:
                repo_dir = self._own_repo_dir(inst)
                if repo_dir is None:
                    raise EnvironmentUnavailable(
                        f"environment unavailable for {inst.instance_id}: the repository "
                        f"{inst.repo} is not in fireassay's task set and no official SWE-bench "
                        f"image (sweb.eval.x86_64.{inst.instance_id}) exists locally; pull or "
                        "build that image (e.g. with the swebench harness) and judge again"
                    )
                img = self.builder.own_instance(inst, repo_dir)
            self.image_seconds += time.monotonic() - t0
            with self._lock:
                self._images[inst.instance_id] = img
            return img

    # -- pools ------------------------------------------------------------------------------
    def config_for(self, img: InstanceImage) -> SandboxConfig:
        """The sandbox settings of a container of ``img``."""
        if img.official:  # big repositories changed in place: a writable root; no python3 in PATH
            return self.base_config.with_(image=img.tag, memory="6g", read_only=False,
                                          init_cmd=("sleep", "infinity"))
        return self.base_config.with_(image=img.tag)

    def _acquire_pool(self, img: InstanceImage) -> Any:
        from sandbox.pool import SandboxPool

        with self._lock:
            pool = self._pools.get(img.tag)
            if pool is not None:
                self._pools.move_to_end(img.tag)
                self._busy[img.tag] = self._busy.get(img.tag, 0) + 1
                return pool
        pool = SandboxPool(size=self.pool_size, config=self.config_for(img), reap_on_start=False)
        evict = []
        with self._lock:
            existing = self._pools.get(img.tag)
            if existing is not None:  # another thread made one meanwhile
                evict.append(pool)
                pool = existing
            else:
                self._pools[img.tag] = pool
            self._busy[img.tag] = self._busy.get(img.tag, 0) + 1
            while len(self._pools) > self.max_pools:
                victim = next((t for t in self._pools if self._busy.get(t, 0) == 0), None)
                if victim is None:
                    break
                evict.append(self._pools.pop(victim))
        for p in evict:
            p.close()
        return pool

    def _release_pool(self, img: InstanceImage) -> None:
        with self._lock:
            self._busy[img.tag] = max(0, self._busy.get(img.tag, 1) - 1)

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for p in pools:
            p.close()

    def __enter__(self) -> "SWEJudge":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- judging ----------------------------------------------------------------------------
    @contextmanager
    def sandbox_for(self, img: InstanceImage) -> Iterator[Sandbox]:
        """A sandbox to judge one patch in: a warm, reset container of ``img``'s pool, or
        (official images, whose /testbed changes in place) a fresh container."""
        if img.official:
            from sandbox.base import open_sandbox

            with open_sandbox("docker", self.config_for(img), kind="swe") as sb:
                yield sb
            return
        pool = self._acquire_pool(img)
        try:
            with pool.lease() as sb:
                yield sb
        finally:
            self._release_pool(img)

    def precheck(self, inst: SWEInstance, patch: str, mode: Mode = "oracle") -> JudgeResult | None:
        """The verdict of a patch that needs no sandbox (refused, or nothing to grade); None:
        it must be judged in one."""
        try:
            check_patch(patch, inst.test_files)
        except PatchRefused as exc:
            return JudgeResult(inst.instance_id, "refused", str(exc))
        if mode == "oracle" and not (inst.fail_to_pass or inst.pass_to_pass):
            return JudgeResult(inst.instance_id, "unavailable",
                               "the instance lists no FAIL_TO_PASS or PASS_TO_PASS tests")
        return None

    def judge(self, inst: SWEInstance, patch: str, mode: Mode = "oracle") -> JudgeResult:
        t0 = time.monotonic()
        iid = inst.instance_id
        early = self.precheck(inst, patch, mode)
        if early is not None:
            return _replace(early, duration_s=time.monotonic() - t0)
        try:
            img = self.image_for(inst)
        except EnvironmentUnavailable as exc:
            return JudgeResult(iid, "unavailable", str(exc), duration_s=time.monotonic() - t0)
        try:
            attempts = 0
            while True:
                attempts += 1
                try:
                    with self.sandbox_for(img) as sb:
                        res = self.judge_in(sb, inst, img, patch, mode)
                    break
                except SandboxUnavailable as exc:
                    if attempts >= 3:
                        return JudgeResult(iid, "error", f"sandbox unavailable: {exc}", image=img.tag,
                                           duration_s=time.monotonic() - t0)
                    log.warning("sandbox trouble, judging %s again: %s", iid, exc)
        except SandboxError as exc:
            return JudgeResult(iid, "error", f"sandbox error: {exc}", image=img.tag,
                               duration_s=time.monotonic() - t0)
        return _replace(res, duration_s=time.monotonic() - t0)

    def judge_many(self, items: Sequence[tuple[SWEInstance, str]], mode: Mode = "oracle",
                   progress: bool = False) -> list[JudgeResult]:
        items = list(items)
        if not items:
            return []
        workers = self.workers or max(1, min(len(items), os.cpu_count() or 1))
        bar = _progress(progress, len(items))
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="swe-judge") as ex:
                futures = [ex.submit(self.judge, inst, patch, mode) for inst, patch in items]
                out = []
                for f in futures:
                    out.append(f.result())
                    if bar is not None:
                        bar[0].advance(bar[1])
                return out
        finally:
            if bar is not None:
                bar[0].stop()

    def judge_in(self, sb: Sandbox, inst: SWEInstance, img: InstanceImage, patch: str,
                 mode: Mode) -> JudgeResult:
        """Judge ``patch`` in ``sb`` (a container of ``img``): the files are read from it, the
        patches applied and the canaries added here (the host), the tests run there, their
        outcomes checked and graded here. Raises :class:`SandboxUnavailable` for an
        infrastructure fault (judge again elsewhere), :class:`SandboxError` for a sandbox error."""
        iid = inst.instance_id
        in_place = img.official  # official images: run in /testbed itself (fresh container)
        repo = img.repo_dir if in_place else f"{sb.workdir}/repo"
        test_patch = inst.test_patch if mode == "oracle" else ""
        paths = sorted(set(files_in_diff(patch)) | set(inst.test_files))
        # one exec: copy the repository into the work dir (ours), then tar the files the patches touch
        r = sb.exec(["sh", "-c", READ if in_place else COPY_AND_READ, "sh", img.repo_dir, repo, *paths],
                    timeout=max(60.0, self.timeout))
        if paths and not r.stdout and r.returncode in (0, 2) and not r.timed_out:
            # tar always writes an archive: an empty stdout with success means the exec's output
            # was lost (seen under heavy load), an infrastructure fault -> the job runs again
            raise SandboxUnavailable("exec output lost while reading the repository")
        if r.returncode == 90 or r.returncode not in (0, 2) or (paths and not r.stdout):
            self._check_alive(sb)  # 2: some path does not exist yet (a file the patch creates)
            return JudgeResult(iid, "error", f"copying/reading the repository failed (exit {r.returncode}): "
                               f"{r.text('stderr')[:500]}", image=img.tag)
        base_files: dict[str, bytes] = tar_members(r.stdout) if paths else {}
        try:
            applied: ApplyOutcome = apply_patches(base_files, patch, test_patch, inst.test_files)
        except PatchRefused as exc:
            return JudgeResult(iid, "refused", str(exc), image=img.tag)
        except RuntimeError as exc:  # the instance's own test patch does not apply
            return JudgeResult(iid, "error", str(exc), image=img.tag)
        if not applied.applied:
            return JudgeResult(iid, "patch_failed", "the patch does not apply:\n" + _tail(applied.log, 2000),
                               apply_log=applied.log, image=img.tag)
        if mode == "oracle":
            files = inst.test_targets
        else:  # feedback: only the test files the model can see (their base versions)
            files = tuple(f for f in inst.test_targets if f in base_files)
            if not files:
                return JudgeResult(iid, "resolved", "the patch applies; there are no visible tests to run",
                                   apply_method=applied.method, apply_log=applied.log, image=img.tag)
        current = {f: applied.changes[f] if f in applied.changes else base_files.get(f) for f in files}
        with_canaries, canaries = canary_tests.inject_all(
            {f: d for f, d in current.items() if d is not None}, seed=secrets.randbits(64))
        tool_dir = f".fa-{secrets.token_hex(6)}"
        plugin = f"fa_reporter_{secrets.token_hex(6)}"  # unguessable: a patch cannot shadow it
        stage = "stage" if in_place else "repo"  # write_files reaches the work dir only
        changes = {**applied.changes, **with_canaries}
        writes: dict[str, bytes] = {f"{stage}/{p}": d for p, d in changes.items() if d is not None}
        writes[f"{tool_dir}/supervisor.py"] = source("supervisor.py")
        writes[f"{tool_dir}/{plugin}.py"] = source("reporter_plugin.py")
        sb.write_files(writes)
        deletes = [f"{repo}/{p}" for p, d in changes.items() if d is None]
        if in_place and len(writes) > 2:
            r = sb.exec(["cp", "-R", f"{sb.workdir}/stage/.", f"{repo}/"], timeout=60)
            if not r.ok:
                return JudgeResult(iid, "error", f"writing into {repo} failed: {r.text('stderr')[:500]}",
                                   image=img.tag)
        if deletes:
            sb.exec(["rm", "-f", "--", *deletes], timeout=30)

        runner = runner_for(inst.repo, inst.test_cmd)
        nonce = secrets.token_hex(16)
        job: dict[str, Any] = {"nonce": nonce, "cwd": repo, "timeout": self.timeout,
                               "log_path": f"/tmp/fa-{secrets.token_hex(6)}.log", "log_tail": LOG_TAIL}
        if runner.parser == "reporter":
            job["pytest"] = {"python": img.python, "plugin_dir": f"{sb.workdir}/{tool_dir}",
                             "plugin": plugin, "args": runner.command(files)}
        else:
            job["cmd"] = runner.command(img.python, files)
            job["log_tail"] = FULL_LOG  # the log IS the result here: parse all of it
        r = sb.exec([img.python, "-I", f"{sb.workdir}/{tool_dir}/supervisor.py"],
                    stdin=(json.dumps(job) + "\n").encode(), timeout=self.timeout + 45)
        payload = find_result_line(r.text(), nonce)
        if payload is None:
            self._check_alive(sb)  # a container that died with the daemon is not the patch's fault
            if r.returncode == 0 and not r.timed_out:
                # the supervisor exits 0 only after printing its line: the output was lost
                raise SandboxUnavailable("exec output lost while running the tests")
        common = dict(apply_method=applied.method, apply_log=applied.log, image=img.tag, tests_run=files)
        if payload is None:
            why = "the test command ran past its time limit" if r.timed_out else (
                "the test supervisor gave no result (killed by the code under test?)")
            return JudgeResult(iid, "unresolved", why,
                               extra={"stderr": r.text("stderr")[-2000:]}, **common)
        run = run_from_supervisor(payload)
        if runner.parser != "reporter":
            parsed = LOG_PARSERS.get(runner.parser)(payload.get("log_tail") or "")
            run = TestRun(outcomes=parsed, collected=None, finished=run.returncode is not None,
                          exitstatus=None, returncode=run.returncode, timed_out=run.timed_out,
                          duration_s=run.duration_s, log_tail=run.log_tail)
        run = _judge_canaries(run, canaries)
        if mode == "feedback":
            if run.tampering:
                return JudgeResult(iid, "unresolved", "tampering: " + "; ".join(run.tampering[:3]),
                                   run=run, error_kind="tampering", **common)
            problems = run.integrity_problems()
            bad = {t: s for t, s in run.outcomes.items() if s in ("failed", "error")}
            ok = not problems and not bad and not run.collect_errors
            return JudgeResult(iid, "resolved" if ok else "unresolved",
                               "visible tests pass" if ok else "; ".join(problems) or f"{len(bad)} visible test(s) fail",
                               run=run, **common)
        g = grade(run, inst.fail_to_pass, inst.pass_to_pass)
        return JudgeResult(iid, "resolved" if g.resolved else "unresolved", g.reason, grade=g, run=run,
                           error_kind="tampering" if g.tampering else None, **common)


    @staticmethod
    def _check_alive(sb: Sandbox) -> None:
        if not sb.healthy():
            sb.broken = True
            raise SandboxBroken("the container stopped during the job")


def _stderr(msg: str) -> None:
    import sys

    print(f"swe: {msg}", file=sys.stderr, flush=True)


def taskset_repo_dir(inst: SWEInstance) -> Path | None:
    """The host folder of ``inst``'s repository when it is one of fireassay's own task set."""
    from .taskset import is_own_repo, repo_dir

    if not is_own_repo(inst.repo):
        return None
    try:
        return repo_dir(inst.instance_id)
    except KeyError:
        return None


def _judge_canaries(run: TestRun, canaries: list[canary_tests.Canary]) -> TestRun:
    """The run with its canaries checked (a passing or vanished one is tampering) and then
    taken out of its outcomes, so that nothing downstream (grading, feedback) sees them."""
    if not canaries:
        return run
    from dataclasses import replace

    problems = canary_tests.check(canaries, run.outcomes, run.collected)
    keep = set(canary_tests.strip(canaries, list(run.outcomes)))
    failed = sum(1 for t, s in run.outcomes.items() if t not in keep and s in ("failed", "error"))
    return replace(
        run, canaries_failed=failed, outcomes={t: s for t, s in run.outcomes.items() if t in keep},
        errors={t: e for t, e in run.errors.items() if t in keep},
        collected=None if run.collected is None else tuple(canary_tests.strip(canaries, run.collected)),
        tampering=tuple(dict.fromkeys([*run.tampering, *problems])))


def _replace(res: JudgeResult, **kw: Any) -> JudgeResult:
    from dataclasses import replace

    return replace(res, **kw)


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def _progress(enabled: bool, total: int) -> tuple[Any, Any] | None:
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    p = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), transient=False)
    p.start()
    return p, p.add_task("SWE patches", total=total)
