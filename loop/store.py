"""The run store: one SQLite database (WAL) per run directory.

Every problem, candidate and verdict is committed as soon as it exists, so a crash loses
nothing and ``--resume`` can ask what is missing. The run's configuration is stored with it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from verifiers import Candidate, Problem, Verdict

DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"  # held (flock) by the process writing a run, for `fireassay view`'s status
# PRAGMA user_version of a store this code writes; 0 = made before versions were recorded (= 1)
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, prompt TEXT NOT NULL,
    reference TEXT, meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    problem_id TEXT NOT NULL, sample_index INTEGER NOT NULL, turn INTEGER NOT NULL,
    text TEXT NOT NULL, token_ids TEXT, logprobs TEXT, sampler TEXT NOT NULL, engine TEXT NOT NULL,
    seed INTEGER, score REAL, meta TEXT NOT NULL,
    PRIMARY KEY (problem_id, sample_index, turn)
);
CREATE TABLE IF NOT EXISTS verdicts (
    problem_id TEXT NOT NULL, sample_index INTEGER NOT NULL, turn INTEGER NOT NULL,
    verifier TEXT NOT NULL, score REAL, passed INTEGER, answer TEXT, feedback TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (problem_id, sample_index, turn, verifier)
);
CREATE TABLE IF NOT EXISTS verifiers (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, uses_reference INTEGER NOT NULL, subset_rule TEXT NOT NULL
);
"""


class StoreError(RuntimeError):
    pass


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, allow_nan=True)


def _json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Mapping):
        return dict(o)
    return repr(o)


def _float_or_none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


class RunStore:
    """Open with :meth:`create` (new run) or :meth:`open` (existing run)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise StoreError(f"{self.path} was written by a newer fireassay (store schema {version}, this one "
                             f"knows {SCHEMA_VERSION}); upgrade fireassay to use it")
        self._conn.executescript(SCHEMA)
        if version == 0:
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | Path, config: Mapping[str, Any], exist_ok: bool = False) -> "RunStore":
        run_dir = Path(run_dir)
        if (run_dir / DB_NAME).exists() and not exist_ok:
            raise StoreError(f"{run_dir} already holds a run; use --resume to continue it or choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        store = cls(run_dir)
        if not store.config():
            store.set_config(config)
        return store

    @classmethod
    def open(cls, run_dir: str | Path) -> "RunStore":
        if not (Path(run_dir) / DB_NAME).exists():
            raise StoreError(f"{run_dir} is not a run directory (no {DB_NAME}); create one with `fireassay verify` or `fireassay run`")
        return cls(run_dir)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(sql, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- config ----------------------------------------------------------------------------
    def set_config(self, config: Mapping[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO config VALUES (?, ?)", [(k, _dumps(v)) for k, v in config.items()])

    def config(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._read("SELECT key, value FROM config")}

    def config_mismatch(self, config: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
        """Names of settings whose stored value differs from ``config`` (for ``--resume``)."""
        stored = self.config()
        skip = set(ignore)
        out = []
        for k, v in config.items():
            if k in skip:
                continue
            if k in stored and json.loads(_dumps(v)) != stored[k]:
                out.append(f"{k}: stored {stored[k]!r}, now {v!r}")
        return out

    # -- problems ----------------------------------------------------------------------------
    def add_problems(self, problems: Sequence[Problem]) -> None:
        start = self._read("SELECT COALESCE(MAX(position) + 1, 0) FROM problems")[0][0]
        self._write(
            "INSERT OR IGNORE INTO problems VALUES (?, ?, ?, ?, ?)",
            [(p.id, start + i, _dumps(list(p.prompt)), _dumps(p.reference), _dumps(p.meta)) for i, p in enumerate(problems)],
        )

    def problems(self) -> list[Problem]:
        rows = self._read("SELECT id, prompt, reference, meta FROM problems ORDER BY position")
        return [Problem(r[0], tuple(json.loads(r[1])), json.loads(r[2]), json.loads(r[3])) for r in rows]

    # -- candidates --------------------------------------------------------------------------
    def add_candidates(self, candidates: Sequence[Candidate]) -> None:
        self._write(
            "INSERT OR IGNORE INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.problem_id, c.sample_index, c.turn, c.text, _dumps(list(c.token_ids)) if c.token_ids else None,
                 _dumps(list(c.logprobs)) if c.logprobs is not None else None, _dumps(c.sampler), c.engine, c.seed,
                 _float_or_none(c.score), _dumps(c.meta))
                for c in candidates
            ],
        )

    def candidates(self, problem_id: str | None = None) -> list[Candidate]:
        sql = ("SELECT c.problem_id, c.sample_index, c.turn, c.text, c.token_ids, c.logprobs, c.sampler, c.engine, "
               "c.seed, c.score, c.meta FROM candidates c JOIN problems p ON p.id = c.problem_id")
        args: tuple[Any, ...] = ()
        if problem_id is not None:
            sql += " WHERE c.problem_id = ?"
            args = (problem_id,)
        sql += " ORDER BY p.position, c.sample_index, c.turn"
        return [_candidate(r) for r in self._read(sql, args)]

    def candidate_keys(self) -> set[tuple[str, int, int]]:
        return {(r[0], r[1], r[2]) for r in self._read("SELECT problem_id, sample_index, turn FROM candidates")}

    def count_candidates(self) -> int:
        return self._read("SELECT COUNT(*) FROM candidates")[0][0]

    # -- verdicts ----------------------------------------------------------------------------
    def register_verifier(self, name: str, role: str, uses_reference: bool, subset_rule: str) -> None:
        """``role``: "oracle", "feedback" or "selector"."""
        self._write("INSERT OR REPLACE INTO verifiers VALUES (?, ?, ?, ?)", [(name, role, int(uses_reference), subset_rule)])

    def verifiers(self) -> dict[str, dict[str, Any]]:
        return {r[0]: {"role": r[1], "uses_reference": bool(r[2]), "subset_rule": r[3]}
                for r in self._read("SELECT name, role, uses_reference, subset_rule FROM verifiers")}

    def add_verdicts(self, verifier: str, pairs: Sequence[tuple[Candidate, Verdict]]) -> None:
        self._write(
            "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.problem_id, c.sample_index, c.turn, verifier, _float_or_none(v.score),
                 None if v.passed is None else int(v.passed), v.answer, v.feedback, _dumps(v.details))
                for c, v in pairs
            ],
        )

    def verdicts(self, verifier: str) -> dict[tuple[str, int, int], Verdict]:
        rows = self._read(
            "SELECT problem_id, sample_index, turn, score, passed, answer, feedback, details FROM verdicts WHERE verifier = ?",
            (verifier,),
        )
        return {
            (r[0], r[1], r[2]): Verdict(
                r[3] if r[3] is not None else math.nan, None if r[4] is None else bool(r[4]), r[5], r[6], json.loads(r[7])
            )
            for r in rows
        }

    def verdict_keys(self, verifier: str) -> set[tuple[str, int, int]]:
        return {(r[0], r[1], r[2]) for r in self._read(
            "SELECT problem_id, sample_index, turn FROM verdicts WHERE verifier = ?", (verifier,))}

    def problems_missing(self, verifier: str) -> list[str]:
        """Problems with at least one candidate that ``verifier`` has not judged."""
        rows = self._read(
            "SELECT DISTINCT c.problem_id FROM candidates c LEFT JOIN verdicts v ON v.problem_id = c.problem_id "
            "AND v.sample_index = c.sample_index AND v.turn = c.turn AND v.verifier = ? WHERE v.verifier IS NULL",
            (verifier,),
        )
        return [r[0] for r in rows]

    def iter_rows(self) -> Iterator[tuple[Candidate, dict[str, Verdict]]]:
        """Every candidate with all its verdicts (for export)."""
        by_verifier = {name: self.verdicts(name) for name in self.verifiers()}
        for c in self.candidates():
            yield c, {name: vs[c.key] for name, vs in by_verifier.items() if c.key in vs}

    def export_rows(self) -> Iterator[dict[str, Any]]:
        """One JSON-able row per candidate (``fireassay export``): the oracle's ``passed``,
        ``score`` and ``answer`` at top level, every verifier's under ``verdicts``."""
        oracle = next((n for n, v in self.verifiers().items() if v["role"] == "oracle"), None)
        for c, verdicts in self.iter_rows():
            top = verdicts.get(oracle) if oracle else None
            yield {
                "problem_id": c.problem_id, "sample_index": c.sample_index, "turn": c.turn, "text": c.text,
                "passed": top.passed if top else None, "score": _float_or_none(top.score) if top else None,
                "answer": top.answer if top else None,
                "sampler": c.sampler.get("name") if c.sampler else None,
                "first_token": c.meta.get("first_token"), "tokens": c.meta.get("tokens"),
                "verdicts": {n: {"passed": v.passed, "score": _float_or_none(v.score), "answer": v.answer}
                             for n, v in verdicts.items()},
            }


@contextlib.contextmanager
def writer_lock(run_dir: str | Path, wait_s: float = 5.0) -> Iterator[None]:
    """Hold ``RUN_DIR/run.lock`` while a process writes the run: readers (``fireassay view``) see
    the run as running, and a second writer of the same run is refused. The lock dies with the
    process (a kill -9 leaves no stale lock). Readers only test it for an instant, hence the
    short wait."""
    path = Path(run_dir) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(f"another fireassay process is writing {run_dir}; wait for it to finish "
                                     "(or stop it) before running this one") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def writer_active(run_dir: str | Path) -> bool:
    """True while some process holds ``writer_lock`` on ``run_dir``. Opens the lock file read-only
    and writes nothing."""
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _candidate(r: tuple[Any, ...]) -> Candidate:
    return Candidate(
        problem_id=r[0], sample_index=r[1], turn=r[2], text=r[3],
        token_ids=tuple(json.loads(r[4])) if r[4] else (),
        logprobs=tuple(json.loads(r[5])) if r[5] else None,
        sampler=json.loads(r[6]), engine=r[7], seed=r[8], score=r[9], meta=json.loads(r[10]),
    )


def verdict_json(v: Verdict) -> dict[str, Any]:
    return asdict(v)
