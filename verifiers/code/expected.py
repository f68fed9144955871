"""Expected outputs: each canonical solution run once in the sandbox, cached on disk.

The cache lives at ``<cache_dir>/<cache_key>.json`` (default ``~/.cache/fireassay/expected``,
or ``$FIREASSAY_CACHE/expected``), where ``cache_key`` is the sha256 of the dataset file (the
task computes it). It holds, per problem id, the tagged outputs and the reference times of
every input, CPU and wall-clock seconds (the time limits come from those: ``--timing cpu``
reads the CPU times, ``--timing evalplus`` the wall times, as EvalPlus does), or the error of
an input the reference itself fails on. Problems missing from the cache are computed in one parallel batch and merged in.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from sandbox.plain import encode

from .execution import CallGroup, CodeLimits
from .executors import RunnerExecutor

CACHE_VERSION = 3  # 2: reference times are CPU seconds; 3: and wall seconds


def default_cache_dir() -> Path:
    root = os.environ.get("FIREASSAY_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "fireassay"
    return base / "expected"


@dataclass(frozen=True)
class Expected:
    """A problem's expected outputs (tagged) and reference times, base inputs first."""

    outputs: tuple[Any, ...]  # tagged plain data, one per input (base then plus)
    times: tuple[float, ...]  # CPU seconds of the reference's call, per input
    n_base: int
    errors: tuple[str, ...] = ()  # "input 3: ValueError: ..." for inputs the reference fails
    wall_times: tuple[float, ...] = ()  # wall seconds of the reference's call, per input

    @property
    def ok(self) -> bool:
        return not self.errors

    def times_for(self, timing: str) -> tuple[float, ...]:
        """The reference times a timing rule measures limits from: wall seconds for
        ``"evalplus"`` (as EvalPlus's ``trusted_exec`` times them), CPU seconds for ``"cpu"``."""
        return self.wall_times if timing == "evalplus" else self.times

    def to_json(self) -> dict[str, Any]:
        return {"outputs": list(self.outputs), "times": list(self.times),
                "wall_times": list(self.wall_times), "n_base": self.n_base,
                "errors": list(self.errors)}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "Expected":
        times = tuple(float(t) for t in d["times"])
        walls = tuple(float(t) for t in d["wall_times"])
        if len(walls) != len(times) or len(times) != len(d["outputs"]):
            raise ValueError("times, wall times and outputs differ in length")
        return Expected(tuple(d["outputs"]), times, int(d["n_base"]),
                        tuple(d.get("errors", ())), walls)


class ExpectedStore:
    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        # key -> (mtime_ns, size, problems): the file is read once per change, not per batch
        self._memo: dict[str, tuple[int, int, dict[str, Expected]]] = {}

    def _path(self, key: str) -> Path:
        return self.cache_dir / f"{key}.json"

    def load(self, key: str) -> dict[str, Expected]:
        path = self._path(key)
        try:
            st = path.stat()
        except OSError:
            return {}
        memo = self._memo.get(key)
        if memo is not None and memo[:2] == (st.st_mtime_ns, st.st_size):
            return dict(memo[2])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != CACHE_VERSION:
                return {}
            got = {pid: Expected.from_json(v) for pid, v in data["problems"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # a damaged cache is recomputed, never trusted
        self._memo[key] = (st.st_mtime_ns, st.st_size, got)
        return dict(got)

    def save(self, key: str, new: Mapping[str, Expected]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        with open(str(path) + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = {**self.load(key), **new}
            data = {"version": CACHE_VERSION,
                    "problems": {pid: e.to_json() for pid, e in sorted(merged.items())}}
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".expected-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
            os.replace(tmp, path)

    def ensure(self, references: Sequence[tuple[str, Mapping[str, Any]]],
               executor: RunnerExecutor, limits: CodeLimits,
               progress: bool = False) -> dict[str, Expected]:
        """Expected outputs for ``(problem id, reference)`` pairs, computing missing ones."""
        by_key: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for pid, ref in references:
            by_key.setdefault(str(ref["cache_key"]), []).append((pid, ref))
        out: dict[str, Expected] = {}
        for key, items in by_key.items():
            cached = self.load(key)
            missing = [(pid, ref) for pid, ref in items if pid not in cached]
            if missing:
                sys.stderr.write(f"computing expected outputs of {len(missing)} problems "
                                 f"(once; cached in {self._path(key)})\n")
                fresh = compute_expected(missing, executor, limits, progress)
                self.save(key, fresh)
                cached.update(fresh)
            out.update({pid: cached[pid] for pid, _ in items})
        return out


def compute_expected(items: Sequence[tuple[str, Mapping[str, Any]]], executor: RunnerExecutor,
                     limits: CodeLimits, progress: bool = False) -> dict[str, Expected]:
    groups = []
    for pid, ref in items:
        inputs = tuple(ref["base_input"]) + tuple(ref["plus_input"])
        tl = (limits.reference_time_limit,) * len(inputs)
        groups.append(CallGroup(ref["entry_point"], inputs, tl, ((pid, ref["reference_code"]),),
                                budget_s=max(600.0, 2.0 * len(inputs)), stop_on_error=False))
    # the references run under the CPU rule whatever the candidates' timing: their outputs
    # and times serve both rules, and a busy machine must not fail a canonical solution
    results = executor.run(groups, replace(limits, timing="cpu"), progress=progress)
    fresh: dict[str, Expected] = {}
    for pid, ref in items:
        n_base = len(ref["base_input"])
        n = n_base + len(ref["plus_input"])
        res = results[pid]
        if res.unjudged:
            raise RuntimeError(f"expected outputs of {pid}: {res.unjudged}")
        if not res.loaded:
            why = "lost (runner killed)" if res.lost else \
                f"{res.load_error['kind']}: {res.load_error['message']}"  # type: ignore[index]
            fresh[pid] = Expected((None,) * n, (0.0,) * n, n_base, (f"reference: {why}",),
                                  (0.0,) * n)
            continue
        outs, times, walls, errors = [], [], [], []
        for i, o in enumerate(res.outcomes):
            if o.ok:
                outs.append(encode(o.value))
            else:
                outs.append(None)
                errors.append(f"input {i}: {o.status} {o.error_kind}: {o.message}"[:300])
            times.append(o.cpu_seconds if o.cpu_seconds is not None else o.seconds)
            walls.append(o.seconds)  # the child's clock around the call alone
        fresh[pid] = Expected(tuple(outs), tuple(times), n_base, tuple(errors), tuple(walls))
    return fresh
