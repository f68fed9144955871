"""Running the real CLI in-process for the bad-input suite, and checking that nothing was written.

``run_cli`` calls ``loop.cli.main`` as the ``fireassay`` script does (same argument parsing, same
exit codes) without a new interpreter per case; an exception escaping it is what a user would see
as a traceback, so it fails the test instead of being caught.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loop.cli import main


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def message(self) -> str:
        """The error message as one line (rich may wrap long lines)."""
        return " ".join(self.err.split())


def run_cli(capsys: pytest.CaptureFixture[str], *args: Any) -> CliResult:
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def run_cli_quietly(*args: Any) -> int:
    """The exit code of a CLI call whose output nobody reads (for module-scoped fixtures)."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def refused(result: CliResult, *names: str) -> str:
    """Assert one clear refusal: exit 2, an ``error:`` message naming each of ``names``, no
    traceback. Returns the message."""
    msg = result.message
    assert result.code == 2, f"exit {result.code}; stderr: {result.err[-2000:]}"
    assert "error:" in msg and "Traceback" not in result.err, result.err[-2000:]
    for n in names:
        assert n in msg, f"{n!r} not named in: {msg}"
    return msg


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` with a digest of its bytes ({} when ``path`` does not exist)."""
    if not path.exists():
        return {}
    if path.is_file():
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(path.rglob("*"))}


def write_jsonl(path: Path, rows: list[Any], ensure_ascii: bool = True) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in rows), encoding="utf-8")
    return path


def gsm8k_rows(n: int = 3) -> list[dict[str, str]]:
    """Small GSM8K-format records (project-written): question i, gold i + 1."""
    return [{"question": f"What is {i} plus one?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(n)]
