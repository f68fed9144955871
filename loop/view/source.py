"""Read-only access to one run store for the view.

The database is opened with SQLite's ``mode=ro`` URI: this connection cannot write, and in WAL
mode it reads while a run writes, without blocking it (each query is its own short read
transaction, so the writer's checkpoints are never held back for long). Nothing here writes a
byte of the run: the status of a live run comes from ``loop.store.writer_active`` (a lock that
is only tested).
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..store import DB_NAME, SCHEMA_VERSION, writer_active

# what a fireassay store must have (table -> columns); extra tables/columns of newer minor
# versions are fine, a higher PRAGMA user_version is not
REQUIRED = {
    "config": ("key", "value"),
    "problems": ("id", "position", "prompt", "reference", "meta"),
    "candidates": ("problem_id", "sample_index", "turn", "text", "token_ids", "sampler", "engine", "seed",
                   "score", "meta"),
    "verdicts": ("problem_id", "sample_index", "turn", "verifier", "score", "passed", "answer", "feedback",
                 "details"),
    "verifiers": ("name", "role", "uses_reference", "subset_rule"),
}


class ViewError(RuntimeError):
    """A run the view cannot open; the message names the folder and the fix."""


@dataclass(frozen=True)
class Status:
    state: str  # "running" | "finished" | "interrupted"
    candidates: int  # stored candidates, all turns
    judged: int  # candidates the oracle has judged
    trajectories: int  # (problem, sample) pairs begun
    expected: int | None  # problems x n for `fireassay run` stores, else None
    version: tuple[int, int]  # (max candidate rowid, max verdict rowid): changes when anything is added

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "candidates": self.candidates, "judged": self.judged,
                "trajectories": self.trajectories, "expected": self.expected,
                "progress": (min(1.0, self.trajectories / self.expected) if self.expected else None)}


def parse_json(text: str | None, default: Any = None) -> Any:
    """Stored JSON, or ``default`` when it is missing or unreadable (a damaged row fails itself)."""
    if text is None:
        return default
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return default


class RunSource:
    """One run directory, opened read-only. Thread-safe (one connection behind a lock)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        path = self.run_dir / DB_NAME
        if not self.run_dir.is_dir():
            raise ViewError(f"{self.run_dir}: no such folder; give the run directories that "
                            "`fireassay run` or `fireassay verify` wrote (--out)")
        if not path.is_file():
            raise ViewError(f"{self.run_dir} is not a fireassay run (no {DB_NAME} in it); give the folder that "
                            "`fireassay run --out` or `fireassay verify --out` wrote")
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False,
                                         isolation_level=None, timeout=30)
            self._check()
        except sqlite3.DatabaseError as e:
            raise ViewError(f"{path} is not a fireassay run store ({e}); give a folder written by "
                            "`fireassay run` or `fireassay verify`") from None

    def _check(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ViewError(f"{self.run_dir / DB_NAME} was written by a newer fireassay (store schema {version}; "
                            f"this view reads up to {SCHEMA_VERSION}); upgrade fireassay to view it")
        for table, columns in REQUIRED.items():
            have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if not have:
                raise ViewError(f"{self.run_dir / DB_NAME} is not a fireassay run store (no table {table!r}); "
                                "give a folder written by `fireassay run` or `fireassay verify`")
            missing = [c for c in columns if c not in have]
            if missing:
                raise ViewError(f"{self.run_dir / DB_NAME}: table {table!r} lacks {', '.join(missing)}: not a "
                                "fireassay run store this version can read")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- run level ---------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {k: parse_json(v, v) for k, v in self.query("SELECT key, value FROM config")}

    def verifiers(self) -> dict[str, dict[str, Any]]:
        return {r[0]: {"role": r[1], "uses_reference": bool(r[2]), "subset_rule": r[3]}
                for r in self.query("SELECT name, role, uses_reference, subset_rule FROM verifiers")}

    def oracle(self) -> str | None:
        names = sorted(n for n, v in self.verifiers().items() if v["role"] == "oracle")
        return names[0] if names else None

    def version(self) -> tuple[int, int]:
        """Changes whenever a candidate or verdict is added (rows are only ever added or replaced,
        and a replaced row gets a new rowid)."""
        c = self.query("SELECT COALESCE(MAX(rowid), 0) FROM candidates")[0][0]
        v = self.query("SELECT COALESCE(MAX(rowid), 0) FROM verdicts")[0][0]
        return int(c), int(v)

    def state(self, config: dict[str, Any], candidates: int, judged: int, trajectories: int,
              expected: int | None) -> str:
        """running (a process holds the run's writer lock), finished, or interrupted."""
        if writer_active(self.run_dir):
            return "running"
        if config.get("status") == "finished":
            return "finished"
        if config.get("status") is not None:  # "running" stored but nobody holds the lock: it was killed
            return "interrupted"
        # stores from `fireassay verify` or older versions: complete when everything is judged
        complete = judged >= candidates and (expected is None or trajectories >= expected)
        return "finished" if complete else "interrupted"

    # -- problems ----------------------------------------------------------------------------
    def problem_rows(self) -> list[tuple[str, int, str, str | None, str]]:
        """(id, position, prompt json, reference json, meta json) in store order."""
        return self.query("SELECT id, position, prompt, reference, meta FROM problems ORDER BY position")

    def problem_row(self, position: int) -> tuple[str, int, str, str | None, str] | None:
        rows = self.query("SELECT id, position, prompt, reference, meta FROM problems WHERE position = ?", (position,))
        return rows[0] if rows else None

    def changed_problems(self, since: tuple[int, int]) -> set[str]:
        """Problems with a candidate or verdict added after ``since`` (a :meth:`version`)."""
        rows = self.query("SELECT DISTINCT problem_id FROM candidates WHERE rowid > ?", (since[0],))
        rows += self.query("SELECT DISTINCT problem_id FROM verdicts WHERE rowid > ?", (since[1],))
        return {r[0] for r in rows}

    def candidate_rows(self, problem_id: str, samples: Sequence[int] | None = None) -> list[tuple[Any, ...]]:
        """(sample_index, turn, text, sampler, engine, seed, score, meta) ordered by sample and turn."""
        sql = ("SELECT sample_index, turn, text, sampler, engine, seed, score, meta FROM candidates "
               "WHERE problem_id = ?")
        args: list[Any] = [problem_id]
        if samples is not None:
            if not samples:
                return []
            sql += f" AND sample_index IN ({','.join('?' * len(samples))})"
            args += list(samples)
        return self.query(sql + " ORDER BY sample_index, turn", args)

    def verdict_rows(self, problem_id: str, samples: Sequence[int]) -> list[tuple[Any, ...]]:
        """(sample_index, turn, verifier, score, passed, answer, feedback, details) of some samples."""
        if not samples:
            return []
        return self.query(
            "SELECT sample_index, turn, verifier, score, passed, answer, feedback, details FROM verdicts "
            f"WHERE problem_id = ? AND sample_index IN ({','.join('?' * len(samples))})",
            [problem_id, *samples])
