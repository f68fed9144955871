"""Per-test outcomes: from the trusted reporter's events (the default) or, for runners that
are not pytest, from a test log through a parser registered per repository.

Statuses: passed, failed, error, skipped, xfail, xpass. "Passing" = passed, xfail, xpass
(SWE-bench's convention).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from sandbox.registry import Registry

PASSING = frozenset({"passed", "xfail", "xpass"})


@dataclass(frozen=True)
class TestRun:
    """What one run of the test command produced, as the host sees it."""

    __test__ = False  # not a pytest test class

    outcomes: Mapping[str, str]  # test id -> status
    collected: tuple[str, ...] | None  # ids the runner collected (None: runner cannot tell)
    finished: bool  # the runner reached its end (pytest_sessionfinish seen)
    exitstatus: int | None  # what the runner said its exit status was
    returncode: int | None  # what the process really returned (None: killed by timeout)
    timed_out: bool
    duration_s: float
    log_tail: str = ""
    errors: Mapping[str, str] = field(default_factory=dict)  # test id -> assertion / traceback
    collect_errors: Mapping[str, str] = field(default_factory=dict)
    # signs that code in the test process forged outcomes (the reporter's audit hook and
    # identity checks, forged records, call reports the observer did not see pass, canaries)
    tampering: tuple[str, ...] = ()
    final_check: bool | None = None  # the reporter's last check ran (None: no reporter)
    canaries_failed: int = 0  # the judge's canaries (taken out of ``outcomes``) that failed

    def integrity_problems(self) -> list[str]:
        """Reasons not to trust this run (empty: the suite demonstrably ran and agrees)."""
        problems: list[str] = []
        if self.timed_out:
            return ["the test command timed out"]
        if not self.finished:
            problems.append("the test runner never reached its end (killed or exited early)")
        elif self.final_check is False:
            problems.append("the test process ended before the judge's last check")
        if self.collected is not None:
            if not self.collected and not self.collect_errors:
                problems.append("no tests were collected")
            missing = [t for t in self.collected if t not in self.outcomes]
            if missing:
                problems.append(f"{len(missing)} collected test(s) have no result, e.g. {missing[0]}")
        if self.exitstatus is not None and self.returncode is not None and self.exitstatus != self.returncode:
            problems.append(
                f"exit code {self.returncode} disagrees with the runner's own status {self.exitstatus}"
            )
        if self.returncode is not None and self.finished:
            any_fail = any(s not in PASSING and s != "skipped" for s in self.outcomes.values()) or bool(
                self.collect_errors) or self.canaries_failed > 0
            if any_fail and self.returncode == 0:
                problems.append("exit code 0 although tests failed")
            if not any_fail and self.outcomes and self.returncode != 0:
                problems.append(f"exit code {self.returncode} although every test passed")
        return problems


def outcomes_from_events(events: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Fold pytest report events (setup/call/teardown per test) into one status per test."""
    status: dict[str, str] = {}
    errors: dict[str, str] = {}
    for ev in events:
        if ev.get("ev") != "report":
            continue
        nid, when, outcome = ev.get("nodeid"), ev.get("when"), ev.get("outcome")
        if not isinstance(nid, str):
            continue
        prev = status.get(nid)
        if outcome == "failed":
            new = "failed" if when == "call" else "error"
            if prev not in ("failed", "error"):
                status[nid] = new
            errors.setdefault(nid, str(ev.get("longrepr", "")))
        elif outcome == "skipped":
            if ev.get("xfail"):
                status.setdefault(nid, "xfail")
            elif prev is None:
                status[nid] = "skipped"
        elif outcome == "passed":
            if when == "call":
                if prev in (None, "skipped"):
                    status[nid] = "xpass" if ev.get("xfail") else "passed"
            elif prev is None and when == "setup":
                pass  # decided by the call phase
    return status, errors


def tampering_from_events(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the reporter's records say about forged outcomes: tampering it saw (audit hook,
    changed identities), lines on its channel that were not its own, and call reports of
    "passed" that its observer did not see pass (the test raised, or was never observed)."""
    problems: list[str] = []
    calls: dict[str, bool] = {}
    for ev in events:
        kind = ev.get("ev")
        if kind == "tamper":
            problems.append(str(ev.get("what", "tampering"))[:300])
        elif kind == "forged":
            problems.append(f"{ev.get('lines')} record(s) on the reporter's channel were not "
                            "the reporter's")
        elif kind == "call" and isinstance(ev.get("nodeid"), str):
            calls[ev["nodeid"]] = calls.get(ev["nodeid"], False) or bool(ev.get("raised"))
    for ev in events:
        if ev.get("ev") == "report" and ev.get("when") == "call" and ev.get("outcome") == "passed":
            nid = ev.get("nodeid")
            if nid not in calls:
                problems.append(f"{nid} was reported passed but its call was never observed")
            elif calls[nid]:
                problems.append(f"{nid} was reported passed but the test raised")
    return list(dict.fromkeys(problems))


def run_from_supervisor(payload: Mapping[str, Any]) -> TestRun:
    events = [ev for ev in payload.get("events") or [] if isinstance(ev, dict)]
    outcomes, errors = outcomes_from_events(events)
    collected: tuple[str, ...] | None = None
    finished = False
    checked = False
    exitstatus = None
    collect_errors: dict[str, str] = {}
    for ev in events:
        kind = ev.get("ev")
        if kind == "collected":
            collected = tuple(str(i) for i in ev.get("ids") or ())
        elif kind == "finish":
            finished = True
            exitstatus = ev.get("exitstatus")
        elif kind == "checked":
            checked = True
        elif kind == "collecterror":
            collect_errors[str(ev.get("nodeid"))] = str(ev.get("longrepr", ""))
    if collected is None:
        collected = ()
    return TestRun(
        outcomes=outcomes, collected=collected, finished=finished, exitstatus=exitstatus,
        returncode=payload.get("returncode"), timed_out=bool(payload.get("timed_out")),
        duration_s=float(payload.get("duration_s") or 0.0), log_tail=str(payload.get("log_tail") or ""),
        errors=errors, collect_errors=collect_errors,
        tampering=tuple(tampering_from_events(events)), final_check=checked,
    )


def find_result_line(stdout: str, nonce: str) -> dict[str, Any] | None:
    """The supervisor's line: the LAST line that starts with the nonce."""
    found = None
    prefix = nonce + " "
    for line in stdout.splitlines():
        if line.startswith(prefix):
            try:
                found = json.loads(line[len(prefix):])
            except ValueError:
                found = None
    return found


# -- log parsers (for runners without the trusted reporter) ----------------------------------
LogParser = Callable[[str], dict[str, str]]

_PYTEST_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\s+(\S+)")
_PYTEST_MAP = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped",
               "XFAIL": "xfail", "XPASS": "xpass"}


def parse_pytest_log(log: str) -> dict[str, str]:
    """``pytest -rA`` short summary lines (``PASSED path::test``)."""
    out: dict[str, str] = {}
    for line in log.splitlines():
        m = _PYTEST_LINE.match(line.strip())
        if m:
            nid = m.group(2)
            if m.group(1) == "SKIPPED" and nid.startswith("["):
                continue  # "SKIPPED [1] file:line: reason" names no test id
            out[nid] = _PYTEST_MAP[m.group(1)]
    return out


_DJANGO_LINE = re.compile(
    r"^(.*?) \.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)\s*$")


def parse_django_log(log: str) -> dict[str, str]:
    """Django's ``runtests.py --verbosity 2``: ``test_x (module.Class) ... ok``; a test with a
    docstring shows its first line instead (``Docstring line ... ok``), which is the id
    SWE-bench lists for it."""
    out: dict[str, str] = {}
    for line in log.splitlines():
        m = _DJANGO_LINE.match(line)
        if not m or not m.group(1).strip():
            continue
        word = m.group(2)
        out[m.group(1).strip()] = (
            "passed" if word == "ok" else "failed" if word == "FAIL" else "error" if word == "ERROR"
            else "xfail" if word == "expected failure" else "xpass" if word == "unexpected success"
            else "skipped"
        )
    return out


_SYMPY_LINE = re.compile(r"^(test_\w+)\s+(ok|F|E|f|s|X)\s*$", re.M)


def parse_sympy_log(log: str) -> dict[str, str]:
    """SymPy's ``bin/test -C --verbose``: ``test_name ok`` / ``F`` / ``E``."""
    table = {"ok": "passed", "F": "failed", "E": "error", "f": "xfail", "s": "skipped", "X": "xpass"}
    return {m.group(1): table[m.group(2)] for m in _SYMPY_LINE.finditer(log)}


LOG_PARSERS: Registry[LogParser] = Registry(
    "SWE log parser",
    "fireassay.swe_log_parsers",
    {
        "pytest": "verifiers.swe.results:parse_pytest_log",
        "django": "verifiers.swe.results:parse_django_log",
        "sympy": "verifiers.swe.results:parse_sympy_log",
    },
)
