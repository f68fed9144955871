"""Bad input, surface: datasets (``--data``). Each refusal exits 2 with one message that names
the file (and line) before anything is written; valid but unusual files are read right."""
from __future__ import annotations

import gzip
import json

import pytest

from .harness import gsm8k_rows, refused, run_cli, tree, write_jsonl


def _verify_reference(capsys, data, out):
    return run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--reference", "--out", out)


def test_raw_line_separators_inside_a_string_are_text_not_line_breaks(tmp_path, capsys):
    rows = gsm8k_rows(3)
    rows[0]["question"] = "Two lines\u2028in one\u2029paragraph, a NEL\x85, a VT\x0b and FF\x0c: what is 0 plus one?"
    data = write_jsonl(tmp_path / "d.jsonl", rows, ensure_ascii=False)  # the characters raw, as JSON allows
    r = _verify_reference(capsys, data, tmp_path / "run")
    assert r.code == 0, r.err  # was: "d.jsonl:1: invalid JSON (Unterminated string ...)"
    assert "verified 3 candidates: 3 passed" in r.out


def test_invalid_utf8_is_named_with_file_and_line(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    lines = [json.dumps(r).encode() for r in gsm8k_rows(3)]
    lines[1] = lines[1].replace(b"plus", b"pl\xffus")
    data.write_bytes(b"\n".join(lines) + b"\n")
    msg = refused(_verify_reference(capsys, data, tmp_path / "run"), f"{data}:2", "UTF-8")
    assert "0xff" in msg
    assert tree(tmp_path / "run") == {}


def test_integer_past_the_digit_limit_is_named_with_file_and_line(tmp_path, capsys):
    rows = gsm8k_rows(3)
    data = tmp_path / "d.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in rows)
    data.write_text(text + '{"question": "big", "answer": "#### 1", "n": ' + "7" * 5001 + "}\n")
    refused(_verify_reference(capsys, data, tmp_path / "run"), f"{data}:4", "digits")
    assert tree(tmp_path / "run") == {}


def test_lone_surrogate_is_named_with_file_and_line(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in gsm8k_rows(2)) + '{"question": "x\\ud800", "answer": "#### 1"}\n')
    refused(_verify_reference(capsys, data, tmp_path / "run"), f"{data}:3", "surrogate")
    assert tree(tmp_path / "run") == {}


def test_gz_name_on_a_file_that_is_not_gzip(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl.gz", gsm8k_rows(2))  # plain text behind a .gz name
    refused(_verify_reference(capsys, data, tmp_path / "run"), str(data), "gzip")
    assert tree(tmp_path / "run") == {}
    good = tmp_path / "ok.jsonl.gz"
    good.write_bytes(gzip.compress(data.read_bytes()))
    assert _verify_reference(capsys, good, tmp_path / "run2").code == 0


def test_data_file_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "d" / "test.jsonl").mkdir(parents=True)  # the name the task looks for, as a folder
    refused(_verify_reference(capsys, tmp_path / "d", tmp_path / "run"), "test.jsonl", "no data file")
    assert tree(tmp_path / "run") == {}


def _verify_samples(capsys, data, samples, out, *extra):
    return run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out, *extra)


def test_empty_dataset_says_it_has_no_problems(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("\n")
    samples = write_jsonl(tmp_path / "s.jsonl", [{"problem_id": "0", "text": "1"}])
    msg = refused(_verify_samples(capsys, data, samples, tmp_path / "run"), str(data), "no problems")
    assert "unknown problem_id" not in msg  # was: "unknown problem_id '0'; ids look like:  ..."
    assert tree(tmp_path / "run") == {}


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_refused(tmp_path, capsys, limit):
    data = write_jsonl(tmp_path / "d.jsonl", gsm8k_rows(3))
    msg = refused(run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--reference", "--out",
                          tmp_path / "run", "--limit", limit), "--limit")
    assert "unknown problem_id" not in msg  # -1 silently dropped the last problem
    assert tree(tmp_path / "run") == {}


def test_duplicate_problem_ids_are_refused_naming_both_lines(tmp_path, capsys):
    rows = [{"problem": f"p{i}", "answer": str(i), "unique_id": f"test/algebra/{i}.json"} for i in range(3)]
    rows[2]["unique_id"] = rows[0]["unique_id"]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    refused(run_cli(capsys, "verify", "--task", "math500", "--data", data, "--reference", "--out", tmp_path / "run"),
            "test/algebra/0.json", f"{data}:1", ":3")
    assert tree(tmp_path / "run") == {}


def test_a_record_repeated_exactly_is_used_once_with_a_warning(tmp_path):
    """SWE-bench's dev split ships one instance twice, identical: the file is usable, the repeat
    is dropped and the CLI says so in one warning line naming both lines (a real subprocess:
    pytest's own warning capture would hide the line in-process)."""
    import subprocess
    import sys

    rows = [{"problem": f"p{i}", "answer": str(i), "unique_id": f"test/algebra/{i}.json"} for i in range(3)]
    rows.append(dict(rows[0]))
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    p = subprocess.run([sys.executable, "-m", "loop.cli", "verify", "--task", "math500", "--data", str(data),
                        "--reference", "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"warning: {data}:1 and {data}:4: problem id 'test/algebra/0.json' appears twice, identical; used once" \
        in " ".join(p.stderr.split()), p.stderr
    assert "verified 3 candidates" in p.stdout + p.stderr
