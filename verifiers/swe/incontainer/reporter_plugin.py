"""pytest plugin loaded (under a random module name) inside the test container.

It writes one JSON line per event to a pipe inherited from the supervisor (fd named by
FIREASSAY_REPORT_FD, removed from the environment at import, before any repository code runs).
Results therefore never travel through the test log: printed "PASSED" lines cannot fake them.
"""
import json
import os

_FD = os.environ.pop("FIREASSAY_REPORT_FD", None)
_OUT = os.fdopen(int(_FD), "w", buffering=1, encoding="utf-8", errors="replace") if _FD else None
_CAP = 4000


def _emit(rec):
    if _OUT is None:
        return
    try:
        _OUT.write(json.dumps(rec) + "\n")
        _OUT.flush()
    except Exception:  # the supervisor vanished: nothing left to tell
        pass


def _text(longrepr):
    if longrepr is None:
        return ""
    try:
        s = str(longrepr)
    except Exception:
        s = "<unprintable>"
    return s if len(s) <= _CAP else s[: _CAP // 2] + "\n...\n" + s[-_CAP // 2:]


def pytest_collectreport(report):
    if report.failed:
        _emit({"ev": "collecterror", "nodeid": report.nodeid, "longrepr": _text(report.longrepr)})


def pytest_collection_finish(session):
    _emit({"ev": "collected", "ids": [item.nodeid for item in session.items]})


def pytest_runtest_logreport(report):
    _emit({
        "ev": "report",
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "xfail": bool(getattr(report, "wasxfail", False)) if hasattr(report, "wasxfail") else False,
        "longrepr": _text(report.longrepr) if report.outcome != "passed" else "",
    })


def pytest_sessionfinish(session, exitstatus):
    _emit({"ev": "finish", "exitstatus": int(exitstatus)})
