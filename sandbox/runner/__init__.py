"""The in-sandbox runner: calls untrusted code on inputs and reports outputs unforgeably.

Run as ``python3 -I -c <runner_source()>`` with one job as JSON on stdin. The files of this
package are ONE program there: :func:`runner_source` joins them (with :mod:`sandbox.plain`),
stdlib only, each file's imports of the others left out; on the host they are ordinary modules (``verifiers.code.execution`` builds jobs and
reads results with :mod:`.protocol`). Three kinds of process run it:

- the **runner** (:mod:`.parent`, with its handles on the others in :mod:`.children`, the timing
  rule in :mod:`.clock` and the cleanup between programs in :mod:`.cleanup`): trusted, the only
  one that holds the nonce; it starts a fresh child per program, sends it the code and, once it
  has loaded, all the inputs at once, checks every answer, kills a child that overruns its limit
  (:class:`CallClock`) and prints one result line per program;
- the **fork server** (:mod:`.forkserver`): forked from the runner before the job is read, it
  forks the children (a new interpreter per child when it is gone);
- the **child** (:mod:`.child`): runs the untrusted code, answers over a private pipe.

What crosses between them, and between the runner and the host, is :mod:`.protocol`; the
process helpers all three use are :mod:`.proc`. The host reads only lines carrying its nonce,
one per program, in the order it sent them; a program without one (the runner was killed, the
line was garbled) counts as failed on every input. Expected outputs never come here.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

from .clock import CallClock
from .protocol import (
    END_PREFIX,
    RESULT_PREFIX,
    Job,
    Limit,
    Msg,
    Status,
    Timing,
    end_line,
    frame_result,
    loads_strict,
    read_frame,
    seconds,
    text,
)

# the files of the runner program, in the order they are joined: each defines what the ones
# after it use (at import time: nothing but constants and the imports of the runner's own)
RUNNER_FILES = ("plain.py", "runner/protocol.py", "runner/proc.py", "runner/child.py",
                "runner/forkserver.py", "runner/children.py", "runner/clock.py",
                "runner/cleanup.py", "runner/parent.py")
FUTURE = "from __future__ import annotations\n"


@functools.cache
def runner_source() -> str:
    """The self-contained runner program: :data:`RUNNER_FILES` joined, each without what only
    the host reads (:func:`for_the_sandbox`), and a call of ``main`` at the end."""
    here = Path(__file__).resolve().parents[1]
    parts = [for_the_sandbox((here / name).read_text(encoding="utf-8")) for name in RUNNER_FILES]
    return FUTURE + "\n".join(parts) + "\nif __name__ == '__main__':\n    main(sys.argv[1:])\n"


def for_the_sandbox(text: str) -> str:
    """A runner file's text without what only the host reads: the docstrings (of the module,
    and of a class or function that has statements besides), the ``from __future__`` import
    (the program has one at its top) and the imports of the other files (the
    ``if __name__ != "__main__":`` blocks: the program defines those names itself). Every
    other line is kept as it is. Less to compile in every runner exec: the split into files
    costs the sandbox nothing."""
    tree = ast.parse(text)
    drop: set[int] = set()

    def lines(node: ast.stmt) -> range:
        return range(node.lineno, (node.end_lineno or node.lineno) + 1)

    for node in tree.body:
        if (isinstance(node, ast.ImportFrom) and node.module == "__future__") or host_only(node):
            drop.update(lines(node))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and len(node.body) > 1:
            first, second = node.body[0], node.body[1]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str) \
                    and first.lineno > getattr(node, "lineno", 0) \
                    and (first.end_lineno or first.lineno) < second.lineno:  # lines of its own
                drop.update(lines(first))
    return "".join(ln for n, ln in enumerate(text.splitlines(keepends=True), 1) if n not in drop)


def host_only(node: ast.stmt) -> bool:
    """``if __name__ != "__main__":`` (a runner file's imports of the others)."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
            and len(node.test.ops) == 1 and isinstance(node.test.ops[0], ast.NotEq)
            and isinstance(node.test.comparators[0], ast.Constant)
            and node.test.comparators[0].value == "__main__" and not node.orelse)


__all__ = [
    "CallClock", "END_PREFIX", "RESULT_PREFIX", "RUNNER_FILES", "Job", "Limit", "Msg", "Status",
    "Timing", "end_line", "frame_result", "loads_strict", "read_frame", "runner_source", "seconds",
    "text",
]
