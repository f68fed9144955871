"""Bad input, surface: samples files (``verify --samples``). Every refusal exits 2 with one
message naming the file:line and the field, before anything is written: the same ``--out``
then works with the file fixed."""
from __future__ import annotations

import gzip
import json

import pytest

from .harness import gsm8k_rows, refused, run_cli, tree, write_jsonl

GOOD = [{"problem_id": str(i), "text": f"The answer is {i + 1}."} for i in range(3)]


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "d.jsonl", gsm8k_rows(3))


def _verify(capsys, data, samples, out, *extra):
    return run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out, *extra)


def _lines(*bad: str) -> str:
    """Two good lines, then the bad ones (from line 3): the whole file is read before any write."""
    return "".join(json.dumps(r) + "\n" for r in GOOD[:2]) + "".join(b + "\n" for b in bad)


CASES = {
    # name: (file text, what the message must name besides file:3)
    "score of 401 digits": (_lines('{"problem_id": "2", "text": "x", "score": ' + "9" * 401 + "}"), "score"),
    "infinite score": (_lines('{"problem_id": "2", "text": "x", "score": Infinity}'), "score"),
    "sample_index 2^63": (_lines('{"problem_id": "2", "text": "x", "sample_index": %d}' % 2**63), "sample_index"),
    "turn 2^63": (_lines('{"problem_id": "2", "text": "x", "turn": %d}' % 2**63), "turn"),
    "lone surrogate in text": (_lines('{"problem_id": "2", "text": "x\\ud800"}'), "surrogate"),
    "text null": (_lines('{"problem_id": "2", "text": null}'), '"text"'),
    "text missing": (_lines('{"problem_id": "2"}'), '"text"'),
    "text a number": (_lines('{"problem_id": "2", "text": 5}'), '"text"'),
    "integer of 5001 digits": (_lines('{"problem_id": "2", "text": "x", "n": ' + "1" * 5001 + "}"), "digits"),
    "markup-like unknown id": (_lines('{"problem_id": "[/]", "text": "x"}'), "'[/]'"),
    "rich markup in an id": (_lines('{"problem_id": "[bold red]x[/]", "text": "x"}'), "[bold red]x[/]"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_sample_line_is_refused_before_anything_is_written(tmp_path, capsys, data, case):
    text, name = CASES[case]
    samples = tmp_path / "s.jsonl"
    samples.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    refused(_verify(capsys, data, samples, out), f"{samples}:3", name)
    assert tree(out) == {}  # nothing written: no half-built run that blocks the same --out
    write_jsonl(samples, GOOD)
    r = _verify(capsys, data, samples, out)
    assert r.code == 0 and "verified 3 candidates: 3 passed" in r.out, r.err


def test_invalid_utf8_in_samples_names_file_and_line(tmp_path, capsys, data):
    samples = tmp_path / "s.jsonl"
    samples.write_bytes(_lines().encode() + b'{"problem_id": "2", "text": "\xc3("}\n')
    refused(_verify(capsys, data, samples, tmp_path / "run"), f"{samples}:3", "UTF-8")
    assert tree(tmp_path / "run") == {}


def test_samples_path_that_is_a_directory(tmp_path, capsys, data):
    (tmp_path / "s").mkdir()
    refused(_verify(capsys, data, tmp_path / "s", tmp_path / "run"), str(tmp_path / "s"), "directory", "--samples")
    assert tree(tmp_path / "run") == {}


def test_samples_gz_that_is_not_gzip_and_one_that_is(tmp_path, capsys, data):
    samples = write_jsonl(tmp_path / "s.jsonl.gz", GOOD)
    refused(_verify(capsys, data, samples, tmp_path / "run"), str(samples), "gzip")
    assert tree(tmp_path / "run") == {}
    samples.write_bytes(gzip.compress(samples.read_bytes()))
    assert _verify(capsys, data, samples, tmp_path / "run").code == 0


def test_empty_samples_file(tmp_path, capsys, data):
    samples = tmp_path / "s.jsonl"
    samples.write_text("\n\n")
    refused(_verify(capsys, data, samples, tmp_path / "run"), str(samples), "no samples")
    assert tree(tmp_path / "run") == {}
