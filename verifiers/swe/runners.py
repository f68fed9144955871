"""How each repository's tests are run: pytest with the trusted reporter (the default), or a
repository's own runner whose log is parsed by a registered parser (``results.LOG_PARSERS``).

Register a repository with :func:`register_runner` (or edit ``RUNNERS``); the test files of the
instance's test patch are what gets run (SWE-bench's convention).

pytest runs as ``python -I`` (no current directory, no PYTHONPATH on ``sys.path`` while pytest
and the reporter load), so a patch cannot shadow ``pytest`` or the reporter with a module of
the same name; the repository root is put on ``sys.path`` only after both are loaded.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Runner:
    parser: str  # "reporter" (trusted pytest plugin) or a name in results.LOG_PARSERS
    # reporter: (test files) -> pytest arguments; log runners: (python, test files) -> argv
    command: Callable[..., list[str]]


def pytest_args(files: tuple[str, ...]) -> list[str]:
    return ["-p", "no:cacheprovider", "-rA", "--tb=short", "--color=no", *files]


def django_command(python: str, files: tuple[str, ...]) -> list[str]:
    labels = []
    for f in files:
        if f.startswith("tests/") and f.endswith(".py"):
            labels.append(f[len("tests/"):-3].replace("/", "."))
    return [python, "./tests/runtests.py", "--verbosity", "2", "--settings=test_sqlite",
            "--parallel", "1", *labels]


def sympy_command(python: str, files: tuple[str, ...]) -> list[str]:
    return [python, "bin/test", "-C", "--verbose", *files]


PYTEST = Runner("reporter", pytest_args)
RUNNERS: dict[str, Runner] = {
    "django/django": Runner("django", django_command),
    "sympy/sympy": Runner("sympy", sympy_command),
}


def register_runner(repo: str, runner: Runner) -> None:
    RUNNERS[repo] = runner


def runner_for(repo: str, test_cmd: str | None = None) -> Runner:
    """The runner of ``repo``; an instance's own ``test_cmd`` wins (pytest commands still get
    the trusted reporter)."""
    if test_cmd:
        argv = shlex.split(test_cmd)
        if argv[:1] in (["pytest"], ["py.test"]):
            extra = argv[1:]
        elif argv[1:3] == ["-m", "pytest"]:
            extra = argv[3:]
        else:
            return Runner("pytest", lambda python, files: [*argv, *files])
        return Runner("reporter", lambda files: ["-p", "no:cacheprovider", *extra, *files])
    return RUNNERS.get(repo, PYTEST)
