"""``fireassay export --salvage``: what SQLite can still read of a damaged run store, as export
rows. Reads only (the store is opened read-only, with ``immutable=1`` when it has no WAL)."""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from verifiers import Verdict

from .store import DB_NAME, StoreError, candidate_from_row, connect_readonly, export_row, readable_rows


@dataclass(frozen=True)
class Salvage:
    """What SQLite can still read of a damaged store, as export rows (``export --salvage``)."""

    rows: list[dict[str, Any]]
    unreadable: dict[str, int]  # rows SQLite returned that could not be decoded, per table
    note: str  # what is missing, in words


def salvage(run_dir: str | Path) -> Salvage:
    """Every candidate of ``run_dir``'s store that SQLite can read, with the verdicts it can read
    (a candidate whose oracle verdict is lost has ``passed`` None). Reads only."""
    path = Path(run_dir) / DB_NAME
    try:
        conn = connect_readonly(path)
        conn.execute("SELECT 1").fetchall()
    except sqlite3.Error as e:
        raise StoreError(f"{path}: nothing can be read ({e})") from None
    bad: dict[str, int] = {"candidates": 0, "verdicts": 0}
    try:
        try:
            roles = {r[0]: r[1] for r in readable_rows(conn, "verifiers", "name, role")}
        except sqlite3.Error:
            roles = {}
        oracle = next((n for n, role in roles.items() if role == "oracle"), None)
        verdicts: dict[tuple[str, int, int], dict[str, Verdict]] = {}
        for r in _safe_rows(conn, "verdicts", "problem_id, sample_index, turn, verifier, score, passed, answer, feedback, details"):
            try:
                v = Verdict(r[4] if r[4] is not None else math.nan, None if r[5] is None else bool(r[5]), r[6], r[7],
                            json.loads(r[8]))
                verdicts.setdefault((r[0], r[1], r[2]), {})[r[3]] = v
            except (TypeError, ValueError):
                bad["verdicts"] += 1
        rows = []
        for r in _safe_rows(conn, "candidates", "problem_id, sample_index, turn, text, token_ids, logprobs, sampler, "
                                                "engine, seed, score, meta"):
            try:
                c = candidate_from_row(r)
            except (TypeError, ValueError):
                bad["candidates"] += 1
                continue
            rows.append(export_row(c, verdicts.get(c.key, {}), oracle))
    finally:
        conn.close()
    n_verdicts = sum(len(v) for v in verdicts.values())
    note = (f"{len(rows)} candidates and {n_verdicts} verdicts could be read"
            + ("" if oracle else "; the list of verifiers could not, so no verdict is marked as the oracle's")
            + "".join(f"; {n} {t} rows were unreadable" for t, n in bad.items() if n))
    return Salvage(rows, bad, note)


def _safe_rows(conn: sqlite3.Connection, table: str, columns: str) -> Iterator[tuple[Any, ...]]:
    try:
        yield from readable_rows(conn, table, columns)
    except sqlite3.Error:  # the table itself cannot be found
        return
