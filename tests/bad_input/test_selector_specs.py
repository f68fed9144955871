"""Bad input, surface: ``--selectors`` specs. A spec is user text: shown literally in the one
message (never read as console markup), refused before anything is written."""
from __future__ import annotations

import pytest

from .harness import gsm8k_rows, refused, run_cli, tree, write_jsonl

CASES = {
    "[/]": "[/]",  # was rich.errors.MarkupError
    "[bold red]x[/]": "[bold red]x[/]",  # was shown as "x"
    "majority:as=": "as=",  # an empty stored name was accepted
    "majority:as=[/]": "[/]",
    "weighted_majority:weights=": "weights=",
    "majority,": None,  # an empty entry is dropped, not an error: the run goes on
}


@pytest.mark.parametrize("spec", sorted(k for k, v in CASES.items() if v is not None))
def test_bad_selector_spec_is_refused_literally_before_anything_is_written(tmp_path, capsys, spec):
    data = write_jsonl(tmp_path / "d.jsonl", gsm8k_rows(2))
    out = tmp_path / "run"
    msg = refused(run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--reference", "--out", out,
                          "--selectors", spec), CASES[spec])
    assert "--selectors" in msg or "selector" in msg
    assert tree(out) == {}


def test_an_empty_entry_in_the_list_is_dropped(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", gsm8k_rows(2))
    r = run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--reference", "--out", tmp_path / "run",
                "--selectors", "majority,")
    assert r.code == 0, r.err
