"""The run store: one SQLite database (WAL) per run directory.

Every problem, candidate and verdict is committed as soon as it exists, so a crash loses
nothing and ``--resume`` can ask what is missing. The run's configuration is stored with it.

A store is checked before it is opened (:func:`check_store`): an empty file, one that is not
SQLite, a SQLite file without fireassay's tables or settings, or a damaged one is refused with
one message, and neither re-created nor changed (the check reads it with ``immutable=1``: no
journal or lock file appears). A store damaged later, while in use, raises :class:`StoreError`
instead of ``sqlite3.DatabaseError``. :func:`readable_rows` reads what SQLite still can (``loop.salvage`` builds on it).
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
from dataclasses import asdict, dataclass
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


TABLES = ("config", "problems", "candidates", "verdicts", "verifiers")
_SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class StoreHealth:
    """What :func:`check_store` found. ``problem``: why the store cannot be used as it is (None:
    it can); ``rows``: per table, the rows SQLite can read (None: not counted, or unreadable)."""

    path: Path
    problem: str | None
    damaged: bool = False  # SQLite's own file, partly unreadable: --salvage may rescue rows
    rows: Mapping[str, int | None] | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def readable(self) -> str:
        """Rows per table in words: "40 problems, 240 candidates, ..." ("?" where unreadable)."""
        if self.rows is None:
            return "no table could be read"
        words = {"config": "settings", "problems": "problems", "candidates": "candidates",
                 "verdicts": "verdicts", "verifiers": "verifiers"}
        return ", ".join(f"{'?' if self.rows.get(t) is None else self.rows[t]} {words[t]}"
                         for t in ("problems", "candidates", "verdicts", "verifiers", "config"))

    def fix(self, run_dir: str | Path) -> str:
        """What to do about the problem found."""
        if self.damaged:
            return (f"`fireassay export {run_dir} --out FILE --salvage` writes every candidate and verdict SQLite can "
                    "still read; continue in a new --out")
        if self.problem and "not a fireassay" in self.problem:  # a foreign store, or none
            return "this is not a fireassay run directory: pass the --out of a `fireassay verify` or `fireassay run`"
        return "nothing in it can be recovered: start again with a new --out" if self.problem else ""

    def refusal(self, run_dir: str | Path) -> str:
        """The one message that refuses this store, with what to do."""
        fix = f"nothing was changed; `fireassay doctor {run_dir}` says what is readable"
        if self.damaged:
            fix += f", `fireassay export {run_dir} --out FILE --salvage` writes it"
        return f"{self.path}: {self.problem}; {fix}"


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates no -wal/-shm file; a store left with a WAL (a run
    that was killed) is read through it, as SQLite would on the next open."""
    wal = path.with_name(path.name + "-wal")
    flags = "mode=ro" if wal.exists() and wal.stat().st_size else "mode=ro&immutable=1"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True)


def check_store(run_dir: str | Path, count_rows: bool = False) -> StoreHealth:
    """Is ``run_dir/run.sqlite`` a usable fireassay store? Reads only; ``count_rows`` also counts
    the rows SQLite can read in each table (slower: a scan that survives damaged pages)."""
    path = Path(run_dir) / DB_NAME
    wal = path.with_name(path.name + "-wal")
    has_wal = wal.exists() and wal.stat().st_size > 0
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return StoreHealth(path, f"does not exist: {run_dir} is not a fireassay run directory")
    except OSError as e:
        return StoreHealth(path, f"cannot be read ({e.strerror or e})")
    if size == 0 and not has_wal:
        return StoreHealth(path, "is empty (0 bytes): the run's settings and results are not in it")
    if size and head != _SQLITE_HEADER:
        return StoreHealth(path, "is not a SQLite database (its first bytes are not SQLite's header)")
    try:
        conn = connect_readonly(path)
    except sqlite3.Error as e:
        return StoreHealth(path, f"cannot be opened ({e})")
    try:
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            return StoreHealth(path, f"is damaged ({e})", damaged=True)
        missing = [t for t in TABLES if t not in names]
        if missing:
            return StoreHealth(path, "is not a fireassay run store (no table " + ", ".join(missing) + ")")
        rows = {t: _count_readable(conn, t) for t in TABLES} if count_rows else None
        try:
            check = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
            has_config = conn.execute("SELECT COUNT(*) FROM config").fetchone()[0] > 0
        except sqlite3.DatabaseError as e:
            return StoreHealth(path, f"is damaged ({e})", damaged=True, rows=rows)
        if check != ["ok"]:
            return StoreHealth(path, "is damaged (SQLite's check: " + "; ".join(check)[:300] + ")", damaged=True, rows=rows)
        if not has_config:
            return StoreHealth(path, "holds no run settings (its config table is empty)", rows=rows)
        return StoreHealth(path, None, rows=rows)
    finally:
        conn.close()


def readable_rows(conn: sqlite3.Connection, table: str, columns: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``table`` that SQLite can still read, in rowid order: a damaged page costs
    the rows on it, not the scan (it goes on from the next rowid it can reach)."""
    last, step = 0, 1
    while step <= 1 << 40:
        try:
            cur = conn.execute(f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid", (last,))
            for row in cur:
                last, step = row[0], 1
                yield row[1:]
            return
        except sqlite3.DatabaseError:
            last, step = last + step, step * 2  # skip ahead, farther each time


def _count_readable(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        n = sum(1 for _ in readable_rows(conn, table, "1"))
        return n or None


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
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot be opened ({e})") from None
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise StoreError(f"{self.path} was written by a newer fireassay (store schema {version}, this one "
                             f"knows {SCHEMA_VERSION}); upgrade fireassay to use it")
        try:
            self._conn.executescript(SCHEMA)
            if version == 0:
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot be opened ({e})") from None

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | Path, config: Mapping[str, Any], exist_ok: bool = False) -> "RunStore":
        run_dir = Path(run_dir)
        if (run_dir / DB_NAME).exists() and not exist_ok:
            raise StoreError(f"{run_dir} already holds a run; use --resume to continue it or choose another --out")
        if (run_dir / DB_NAME).exists():
            return cls.open(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{run_dir}: cannot make the run directory ({e.strerror or e}); choose another --out") from None
        cls.write_new(run_dir, config)
        return cls(run_dir)

    @staticmethod
    def write_new(run_dir: Path, config: Mapping[str, Any]) -> None:
        """Make ``run_dir/run.sqlite`` whole or not at all: schema, version and settings are
        written to a file beside it that is then linked into place, so a reader (``fireassay
        view``, ``doctor``) or a crash never meets an empty or half-made store. Another process
        that made the store first wins (StoreError)."""
        tmp = run_dir / f".{DB_NAME}.{os.getpid()}.new"
        target = run_dir / DB_NAME
        try:
            tmp.unlink(missing_ok=True)
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.executemany("INSERT OR REPLACE INTO config VALUES (?, ?)",
                                 [(k, _dumps(v)) for k, v in config.items()])
            finally:
                conn.close()
            os.link(tmp, target)  # fails when the store appeared meanwhile: never overwrites one
        except FileExistsError:
            raise StoreError(f"{run_dir} already holds a run; use --resume to continue it or choose another --out") from None
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"{run_dir}: cannot write a run store there ({e}); choose another --out") from None
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def open(cls, run_dir: str | Path) -> "RunStore":
        """Open an existing store after :func:`check_store` found it usable (else StoreError)."""
        if not (Path(run_dir) / DB_NAME).exists():
            raise StoreError(f"{run_dir} is not a run directory (no {DB_NAME}); create one with `fireassay verify` or `fireassay run`")
        health = check_store(run_dir)
        if not health.ok:
            raise StoreError(health.refusal(run_dir))
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
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(sql, rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as e:
                raise self._failed(e) from None

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as e:
                raise self._failed(e) from None

    def _failed(self, e: sqlite3.DatabaseError) -> Exception:
        """A damaged file, a full disk, a lock held too long: one StoreError naming the file (a
        broken constraint or a misuse of the API is a bug, and raised as it is)."""
        if isinstance(e, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            return e
        damaged = type(e) is sqlite3.DatabaseError  # SQLITE_CORRUPT, SQLITE_NOTADB
        fix = f"`fireassay doctor {self.run_dir}` says what is readable"
        if damaged:
            fix += f", `fireassay export {self.run_dir} --out FILE --salvage` writes it"
        return StoreError(f"{self.path}: {'is damaged' if damaged else 'cannot be used'} ({e}); {fix}")

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
        return [candidate_from_row(r) for r in self._read(sql, args)]

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
            yield export_row(c, verdicts, oracle)


def export_row(c: Candidate, verdicts: Mapping[str, Verdict], oracle: str | None) -> dict[str, Any]:
    """The ``fireassay export`` line of one candidate and its verdicts."""
    top = verdicts.get(oracle) if oracle else None
    return {
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


def candidate_from_row(r: tuple[Any, ...]) -> Candidate:
    """A Candidate from a ``candidates`` row (its columns in table order)."""
    return Candidate(
        problem_id=r[0], sample_index=r[1], turn=r[2], text=r[3],
        token_ids=tuple(json.loads(r[4])) if r[4] else (),
        logprobs=tuple(json.loads(r[5])) if r[5] else None,
        sampler=json.loads(r[6]), engine=r[7], seed=r[8], score=r[9], meta=json.loads(r[10]),
    )


def verdict_json(v: Verdict) -> dict[str, Any]:
    return asdict(v)
