"""Data discovery: every task finds its file under a data root (``$FIREASSAY_DATA`` or
``--data DIR``) in the layout of ../shared/data and in the README's ``<root>/<task>/`` layout;
a root without it is one clear error naming every path tried (never a fall back to the hub)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from loop.tasks import DataError, get_task

# where each task's file lies in ../shared/data (swe: none there; it uses its own offline set)
SHARED_LAYOUT = {
    "gsm8k": "gsm8k/test.jsonl",
    "math500": "math500/test.jsonl",
    "mbppplus": "evalplus/MbppPlus.jsonl.gz",
    "humanevalplus": "evalplus/HumanEvalPlus.jsonl.gz",
    "swe": None,
}


@pytest.mark.parametrize("task", sorted(SHARED_LAYOUT))
def test_every_task_finds_its_file_in_the_shared_layout(task, shared_data, monkeypatch):
    monkeypatch.setenv("FIREASSAY_DATA", str(shared_data))
    t = get_task(task)
    want = SHARED_LAYOUT[task]
    assert t.data_file() == (shared_data / want if want else None)
    assert len(t.load(limit=2)) == 2  # swe: from its own offline task set
    # --data with the root folder finds the same file
    if want:
        assert get_task(task, data=shared_data).data_file() == shared_data / want


@pytest.mark.parametrize("task", ["gsm8k", "mbppplus", "humanevalplus"])
def test_the_readme_layout_root_task_file(task, shared_data, tmp_path, monkeypatch):
    src = shared_data / SHARED_LAYOUT[task]
    (tmp_path / task).mkdir()
    (tmp_path / task / src.name).symlink_to(src)
    monkeypatch.setenv("FIREASSAY_DATA", str(tmp_path))
    assert get_task(task).data_file() == tmp_path / task / src.name


def test_a_root_without_the_file_names_every_path_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("FIREASSAY_DATA", str(tmp_path))
    with pytest.raises(DataError) as e:
        get_task("mbppplus").load()
    msg = str(e.value)
    for p in ("mbppplus/MbppPlus.jsonl.gz", "evalplus/MbppPlus.jsonl.gz", "evalplus/MbppPlus.jsonl"):
        assert str(tmp_path / p) in msg
    assert f"FIREASSAY_DATA={tmp_path}" in msg and "--data" in msg and "hub" in msg
    with pytest.raises(DataError, match=r"no data file in .*tried .*gsm8k/test\.jsonl"):
        get_task("gsm8k", data=tmp_path).load()


def test_cli_with_an_empty_root_exits_2_before_writing(tmp_path):
    out = tmp_path / "run"
    env = {"FIREASSAY_DATA": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"}
    (tmp_path / "empty").mkdir()
    p = subprocess.run([sys.executable, "-m", "loop.cli", "verify", "--task", "humanevalplus",
                        "--reference", "--out", str(out)], capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 2, p.stdout + p.stderr
    text = " ".join((p.stdout + p.stderr).split())
    assert "evalplus/HumanEvalPlus.jsonl.gz" in text and "FIREASSAY_DATA" in text
    assert "Traceback" not in text and not out.exists()
