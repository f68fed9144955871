"""``swe``: SWE-bench-format instances (a repository at a commit, an issue, hidden tests).

Data: ``--data`` (a JSON list or JSONL of SWE-bench records; FAIL_TO_PASS/PASS_TO_PASS as lists
or JSON strings) or ``$FIREASSAY_DATA/swe/``; with neither, fireassay's own offline task set
(``verifiers.swe.taskset``). Prompt: the problem statement plus relevant repository files found
by a simple retrieval (files the statement names, the test patch's files as they are before the
test patch, the modules those import; then the rest of a small repository), size-capped.
The response's unified diff is what gets judged (oracle ``swe``, feedback ``swe_feedback``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

from verifiers import Problem
from verifiers.swe.instance import InstanceError, SWEInstance
from verifiers.swe.taskset import is_own_repo, repo_dir, taskset_records

from .base import Task
from .data import DataError, read_records

PROMPT = """You are working in the Python repository {repo} and must resolve the issue below.

<issue>
{statement}
</issue>

{files}
Write a patch that resolves the issue. Answer with ONE unified diff as `git diff` prints it
(paths starting with a/ and b/, with @@ hunk headers) inside a single ```diff block.
Change the code, not the tests: patches that edit test files are rejected."""

FILE_CAP = 8000  # characters of one file shown
TOTAL_CAP = 24000  # characters of all files shown
TEXT_SUFFIXES = (".py", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini")


class SWETask(Task):
    name: ClassVar[str] = "swe"
    oracle_name: ClassVar[str] = "swe"
    feedback_name: ClassVar[str | None] = "swe_feedback"
    answer_format: ClassVar[str | None] = None
    default_selectors: ClassVar[tuple[str, ...]] = ()  # patches have no answer to vote on; add selectors by name
    data_files: ClassVar[list[str]] = ["instances.json", "instances.jsonl", "test.jsonl", "test.json"]

    # a data root without an instance file: our own offline set (the SWE files in
    # ../shared/data are format samples whose repositories are not there)
    own_data: ClassVar[bool] = True

    def records(self) -> list[dict[str, Any]]:
        path = self.data_file()
        if path is not None:
            return read_records(path)
        return taskset_records()  # our own offline set

    def to_problem(self, index: int, record: dict[str, Any]) -> Problem:
        try:
            inst = SWEInstance.from_record(record)
        except InstanceError as exc:
            raise DataError(f"SWE record {index}: {exc}") from None
        files, shown = relevant_files(inst)
        prompt = PROMPT.format(repo=inst.repo, statement=inst.problem_statement.strip(), files=files)
        return Problem(
            id=inst.instance_id,
            prompt=({"role": "user", "content": prompt},),
            reference=inst.to_record(),
            meta={"repo": inst.repo, "instance_id": inst.instance_id, "files_shown": shown,
                  "flaky": bool(inst.meta.get("flaky", False)), "version": inst.version},
        )

    def reference_text(self, problem: Problem) -> str:
        gold = (problem.reference or {}).get("patch") or ""
        if not gold.strip():
            return ""
        return "```diff\n" + gold + ("" if gold.endswith("\n") else "\n") + "```\n"


def _local_repo(inst: SWEInstance) -> Path | None:
    if not is_own_repo(inst.repo):
        return None
    try:
        return repo_dir(inst.instance_id)
    except KeyError:
        return None


def _repo_files(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for f in sorted(filenames):
            if f.endswith(TEXT_SUFFIXES):
                out.append(Path(dirpath, f).relative_to(root).as_posix())
    return out


def _imports(text: str) -> list[str]:
    mods = re.findall(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", text, re.M)
    return [a or b for a, b in mods]


def _module_file(mod: str, files: set[str]) -> list[str]:
    base = mod.replace(".", "/")
    return [c for c in (base + ".py", base + "/__init__.py") if c in files]


def rank_files(statement: str, test_files: tuple[str, ...], files: list[str],
               read: Any) -> list[str]:
    """Order repository files for the prompt: named in the statement, the test patch's files,
    the modules those import, then everything else (smallest repositories show whole)."""
    fileset = set(files)
    ranked: list[str] = []

    def add(p: str) -> None:
        if p in fileset and p not in ranked:
            ranked.append(p)

    for p in files:  # path or dotted module named in the statement
        dotted = p[:-3].replace("/", ".") if p.endswith(".py") else None
        if p in statement or (dotted and re.search(rf"\b{re.escape(dotted)}\b", statement)):
            add(p)
    for mod in re.findall(r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\b", statement):
        parts = mod.split(".")
        for k in range(len(parts), 0, -1):
            for f in _module_file(".".join(parts[:k]), fileset):
                add(f)
    for t in test_files:
        if t in fileset:
            add(t)
            for mod in _imports(read(t)):
                for f in _module_file(mod, fileset):
                    add(f)
    for p in sorted(files, key=lambda p: (not p.endswith(".py"), "test" in p, p)):
        add(p)
    return ranked


def relevant_files(inst: SWEInstance) -> tuple[str, list[str]]:
    """The files block of the prompt, and the paths it shows."""
    root = _local_repo(inst)
    if root is None:
        return ("(The repository's files are not available locally; work from the issue.)\n", [])
    files = _repo_files(root)
    read = lambda p: (root / p).read_text(encoding="utf-8", errors="replace")  # noqa: E731
    blocks, shown, total = [], [], 0
    for p in rank_files(inst.problem_statement, inst.test_files, files, read):
        text = read(p)
        if not text.strip():
            continue
        if len(text) > FILE_CAP:
            text = text[:FILE_CAP] + "\n... (truncated)\n"
        if total + len(text) > TOTAL_CAP:
            continue
        lang = "python" if p.endswith(".py") else ""
        blocks.append(f"[file: {p}]\n```{lang}\n{text.rstrip()}\n```\n")
        shown.append(p)
        total += len(text)
    return ("Relevant files (as they are at the commit your patch applies to):\n\n" + "\n".join(blocks), shown)
