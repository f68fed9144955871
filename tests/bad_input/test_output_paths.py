"""Bad input, surface: output paths (``--out`` of export, report, verify). A path that cannot be
written is one message naming it; nothing is left half-written."""
from __future__ import annotations

import pytest

from .harness import gsm8k_rows, refused, run_cli, tree, write_jsonl


@pytest.fixture
def run_dir(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", gsm8k_rows(2))
    out = tmp_path / "run"
    assert run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--reference", "--out", out).code == 0
    return out


UNWRITABLE = {
    "under a missing /proc folder": "/proc/nope/x",
    "read-only file system": "/sys/kernel/fireassay-x",
}


@pytest.mark.parametrize("where", sorted(UNWRITABLE))
def test_export_to_an_unwritable_path(tmp_path, capsys, run_dir, where):
    target = UNWRITABLE[where] + ".jsonl"
    before = tree(run_dir)
    refused(run_cli(capsys, "export", run_dir, "--out", target), target)
    assert tree(run_dir) == before


def test_export_to_a_directory(tmp_path, capsys, run_dir):
    (tmp_path / "d").mkdir()
    refused(run_cli(capsys, "export", run_dir, "--out", tmp_path / "d"), str(tmp_path / "d"), "directory")
    assert tree(tmp_path / "d") == {}


def test_export_leaves_no_partial_file_when_it_fails(tmp_path, capsys, run_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "x.jsonl"  # a file where a folder should be
    refused(run_cli(capsys, "export", run_dir, "--out", target), str(target))
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("where", sorted(UNWRITABLE))
def test_report_to_an_unwritable_folder(tmp_path, capsys, run_dir, where):
    refused(run_cli(capsys, "report", run_dir, "--out", UNWRITABLE[where]), UNWRITABLE[where])


@pytest.mark.parametrize("where", sorted(UNWRITABLE))
def test_verify_into_an_unwritable_folder(tmp_path, capsys, where):
    data = write_jsonl(tmp_path / "d.jsonl", gsm8k_rows(2))
    refused(run_cli(capsys, "verify", "--task", "gsm8k", "--data", data, "--reference", "--out", UNWRITABLE[where]),
            UNWRITABLE[where])
