"""Property layer, surface: samples files. Random JSON values in every field of every line.

The reader either returns candidates that every later step can use (known ids, text that is
text, indices that fit SQLite, finite scores, no duplicate) or refuses with one message that
starts with ``file:line`` of a line in the file; nothing else escapes. Through the CLI: exit 0
and the store holds exactly what the file said, or exit 2 and nothing written.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loop.run.samples import read_samples
from loop.store import RunStore
from loop.tasks.data import DataError

from .harness import gsm8k_rows, run_cli, tree, write_jsonl

IDS = ["0", "1", "2"]
SURROGATES = st.sampled_from(["\ud800", "x\udfff", "\udbff\udbff"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**5000)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20) | SURROGATES,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=6,
)


def mostly(usual: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Usual values 3 times in 4, so that a file often gets past its first line."""
    return st.integers(0, 3).flatmap(lambda k: hostile if k == 0 else usual)


FIELDS = {
    "problem_id": mostly(st.sampled_from(IDS), st.integers(-1, 3) | st.sampled_from(["[/]", "[bold]x[/]"]) | json_values),
    "text": mostly(st.text(max_size=30) | st.sampled_from(["[/]", "[bold red]x[/]", "a\u2028b\x85c", "The answer is 1."]),
                   json_values),
    "sample_index": mostly(st.integers(0, 5), st.just(2**63) | st.just(2**31) | json_values),
    "turn": mostly(st.integers(0, 2), st.just(2**63) | json_values),
    "score": mostly(st.floats(-1e9, 1e9), st.floats() | st.integers() | json_values),
}
_REQUIRED = ("problem_id", "text")
rows = mostly(st.fixed_dictionaries({k: FIELDS[k] for k in _REQUIRED},
                                    optional={k: v for k, v in FIELDS.items() if k not in _REQUIRED} | {"extra": json_values}),
              st.fixed_dictionaries({}, optional=FIELDS))
files = st.lists(st.tuples(rows, st.booleans()), min_size=0, max_size=6)


def _write(path: Path, lines: list[tuple[dict, bool]]) -> list[str]:
    texts = []
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # to write integers past the limit that the reader has
    try:
        for row, ascii_only in lines:
            try:
                line = json.dumps(row, ensure_ascii=ascii_only)
                line.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate can only be written as an escape
                line = json.dumps(row, ensure_ascii=True)
            texts.append(line)
    finally:
        sys.set_int_max_str_digits(limit)
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return texts


@given(files)
def test_reader_returns_usable_candidates_or_names_the_line(lines):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.jsonl"
        _write(path, lines)
        try:
            cands = read_samples(path, IDS)
        except DataError as e:
            head, _, rest = str(e).partition(": ")
            if head != str(path):  # a whole-file problem ("no samples") names just the file
                name, _, lineno = head.rpartition(":")
                assert name == str(path) and 1 <= int(lineno) <= len(lines), str(e)
            assert rest
            return
    assert len(cands) == len(lines)  # one candidate per line, in order
    keys = set()
    for c, (row, _) in zip(cands, lines):
        assert c.problem_id in IDS and c.problem_id == str(row["problem_id"])
        assert isinstance(row["text"], str) and c.text == row["text"]  # null or missing text: refused
        c.text.encode("utf-8")  # text, not a lone surrogate
        assert 0 <= c.sample_index < 2**31 and 0 <= c.turn < 2**31
        if row.get("score") is None:
            assert c.score is None
        else:
            assert isinstance(c.score, float) and math.isfinite(c.score) and c.score == row["score"]
        assert c.key not in keys
        keys.add(c.key)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys: read per call
@given(files)
def test_verify_stores_exactly_the_file_or_writes_nothing(capsys, lines):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_jsonl(tmp / "d.jsonl", gsm8k_rows(3))
        samples = tmp / "s.jsonl"
        _write(samples, lines)
        out = tmp / "run"
        r = run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out)
        assert r.code in (0, 2), r.err[-2000:]
        if r.code == 2:
            assert "error:" in r.err and tree(out) == {}
            return
        expected = {c.key: c for c in read_samples(samples, IDS)}
        with RunStore.open(out) as store:
            stored = {c.key: c for c in store.candidates()}
        assert stored.keys() == expected.keys()
        for k, c in stored.items():
            assert c.text == expected[k].text and c.score == expected[k].score
