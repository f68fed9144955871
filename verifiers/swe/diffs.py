"""Unified diffs: pull one out of a model response, list the files it touches, and guard the
files the grader owns (tests, pytest configuration)."""
from __future__ import annotations

import re
from pathlib import PurePosixPath

_FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_GIT_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)", re.M)
_FILE_HEADER = re.compile(r"^(?:---|\+\+\+) (\S+)", re.M)

# Files that steer pytest or the interpreter: a patch that edits them could rewrite outcomes.
PYTEST_CONTROL_FILES = frozenset({"conftest.py", "pytest.ini", "tox.ini", "sitecustomize.py",
                                  "usercustomize.py"})
# In these files only the lines that configure pytest are off limits.
SHARED_CONFIG_FILES = frozenset({"setup.cfg", "pyproject.toml"})
_PYTEST_CONFIG_LINE = re.compile(r"pytest|addopts|python_files|python_classes|python_functions|"
                                 r"testpaths|\bplugins\b|-p\s", re.I)


def _strip_prefix(path: str) -> str | None:
    if path == "/dev/null":
        return None
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path


def files_in_diff(diff: str) -> tuple[str, ...]:
    """Paths (repository-relative, no a/ b/ prefix) that a unified diff creates, edits or deletes."""
    seen: dict[str, None] = {}
    for a, b in _GIT_HEADER.findall(diff):
        for p in (a, b):
            seen.setdefault(p, None)
    for raw in _FILE_HEADER.findall(diff):
        p = _strip_prefix(raw)
        if p:
            seen.setdefault(p, None)
    return tuple(seen)


def looks_like_diff(text: str) -> bool:
    return bool(_GIT_HEADER.search(text)) or (
        re.search(r"^--- \S", text, re.M) is not None
        and re.search(r"^\+\+\+ \S", text, re.M) is not None
        and re.search(r"^@@ ", text, re.M) is not None
    )


def extract_diff(response: str) -> str:
    """The unified diff in a model response ("" when there is none).

    Fenced blocks that hold a diff win (all of them, in order, joined); otherwise the text from
    the first ``diff --git`` / ``--- `` header onward.
    """
    blocks = [body for _, body in _FENCE.findall(response) if looks_like_diff(body)]
    if blocks:
        text = "".join(b if b.endswith("\n") else b + "\n" for b in blocks)
    else:
        m = re.search(r"^(diff --git |--- \S)", response, re.M)
        if not m or not looks_like_diff(response[m.start():]):
            return ""
        text = response[m.start():]
        if "\n```" in text:  # an unclosed fence ends the diff
            text = text.split("\n```", 1)[0] + "\n"
    return text if text.endswith("\n") else text + "\n"


def protected_files_touched(diff: str, test_files: tuple[str, ...] | list[str]) -> list[str]:
    """Files in ``diff`` the model may not change: the test patch's files, any conftest.py,
    pytest.ini."""
    owned = set(test_files)
    bad = []
    for path in files_in_diff(diff):
        name = PurePosixPath(path).name
        if path in owned or name in PYTEST_CONTROL_FILES or name.endswith(".pth"):
            bad.append(path)
    for path, lines in changed_lines(diff).items():
        if PurePosixPath(path).name in SHARED_CONFIG_FILES and any(_PYTEST_CONFIG_LINE.search(ln) for ln in lines):
            bad.append(f"{path} (pytest settings)")
    return bad


def changed_lines(diff: str) -> dict[str, list[str]]:
    """Added and removed lines per file (without their +/- marks)."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            current = _strip_prefix(line[4:].split("\t")[0].strip())
            continue
        if line.startswith("--- ") or line.startswith("diff --git "):
            if line.startswith("diff --git "):
                m = _GIT_HEADER.match(line)
                current = m.group(2) if m else None
            continue
        if current and line[:1] in "+-":
            out.setdefault(current, []).append(line[1:])
    return out


def unsafe_paths(diff: str) -> list[str]:
    """Paths that escape the repository (absolute, or with ``..``)."""
    out = []
    for path in files_in_diff(diff):
        pp = PurePosixPath(path)
        if pp.is_absolute() or ".." in pp.parts:
            out.append(path)
    return out
