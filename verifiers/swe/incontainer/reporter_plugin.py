"""The judge's trusted reporter: a pytest plugin, imported (under a random module name) by the
supervisor's boot code BEFORE pytest and before any repository code.

Code under test runs in this very process, so nothing here is beyond its reach; each layer
makes forging an outcome a visible act instead of a quiet one:

- the channel: one JSON record per line on a pipe inherited from the supervisor, each line
  with an HMAC (a key read once from a second pipe, then closed) over a sequence number and
  the record. The supervisor drops and counts lines that do not verify, so records written
  to the pipe by other code are seen as forgeries, never as results. Results never travel
  through the test log.
- an audit hook (Python 3.8+; it cannot be removed): writes to the code of pytest's, pluggy's
  and this plugin's functions, ``gc`` object hunting, ctypes reads of raw memory, opening
  ``/proc/*/mem`` and adding audit hooks are reported at once (and refused).
- identities: the functions and classes of pytest's runner, reports, nodes, python, skipping,
  outcomes and main modules, pluggy's, and this plugin's (with their code objects and class
  members) are recorded before any repository code runs and compared at every test's call
  report, at the session's end and after ``pytest.main`` returns; so is the registration of
  this plugin's hooks in pytest's plugin manager.
- an observer: a hook wrapper around each test's call records whether the test function
  raised, independently of the report pytest then makes; the host refuses a "passed" call
  report that the observer did not see pass.

The host adds canary tests (:mod:`verifiers.swe.canaries`) that must fail: forging outcomes
wholesale turns them into passes. Runs on Python 3.6+ (official SWE-bench images).
"""
import hashlib
import hmac
import json
import os
import sys
import types

_PROTECTED = ("_pytest", "pytest", "pluggy", __name__)
_CAP = 4000


def _open_channel():
    fd = os.environ.pop("FIREASSAY_REPORT_FD", None)
    kfd = os.environ.pop("FIREASSAY_KEY_FD", None)
    if fd is None:
        return lambda rec: None
    key = b""
    if kfd is not None:
        try:
            while len(key) < 32:
                chunk = os.read(int(kfd), 32 - len(key))
                if not chunk:
                    break
                key += chunk
        finally:
            os.close(int(kfd))
    out, write, dumps, new, sha = int(fd), os.write, json.dumps, hmac.new, hashlib.sha256
    seq = [0]

    def emit(rec):
        try:
            data = dumps(rec, separators=(",", ":"))
            n = seq[0]
            seq[0] = n + 1
            mac = new(key, (str(n) + ":" + data).encode(), sha).hexdigest()
            line = (mac + " " + data + "\n").encode()
            while line:
                line = line[write(out, line):]
        except Exception:  # noqa: BLE001 - the supervisor vanished: nothing left to tell
            pass

    return emit


_emit = _open_channel()


def _protected_module(obj):
    try:
        mod = type.__getattribute__(obj, "__module__") if isinstance(obj, type) \
            else object.__getattribute__(obj, "__module__")
    except Exception:  # noqa: BLE001 - an object hostile code made may raise anything
        return False
    return isinstance(mod, str) and mod.split(".")[0] in _PROTECTED


_ARMED = []  # set once pytest is imported and recorded: from then on, code swaps are flagged
_SWAPS = ("__code__", "__defaults__", "__kwdefaults__")


def _install_audit_hook(emit):
    if not hasattr(sys, "addaudithook"):  # Python < 3.8
        return
    seen = set()
    armed = _ARMED
    watched = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "ctypes.cdata",
               "ctypes.cdata/buffer", "ctypes.PyObj_FromPtr", "ctypes.string_at",
               "ctypes.wstring_at", "sys.addaudithook"}
    fn_type, isinst, isstr = types.FunctionType, isinstance, str

    def flag(what):
        if what not in seen:
            seen.add(what)
            emit({"ev": "tamper", "what": what})
        raise RuntimeError("refused by the judge: " + what)

    def hook(event, args):
        if event in ("object.__setattr__", "object.__delattr__"):
            obj = args[0]
            if armed and args[1] in _SWAPS and isinst(obj, (fn_type, type)) \
                    and _protected_module(obj):
                flag("%s of %r on pytest's or the reporter's %s" % (
                    event, args[1], type(obj).__name__))
        elif event in watched:
            flag(event)
        elif event == "open" and args and isinst(args[0], isstr) \
                and args[0].startswith("/proc/") and args[0].endswith("/mem"):
            flag("open " + args[0])

    sys.addaudithook(hook)


_install_audit_hook(_emit)

import pytest  # noqa: E402 - only after the audit hook

_WATCH = ("_pytest.runner", "_pytest.reports", "_pytest.main", "_pytest.python", "_pytest.nodes",
          "_pytest.unittest", "_pytest.skipping", "_pytest.outcomes", "pluggy", "pluggy._callers", "pluggy._hooks", "pluggy._manager", "pluggy._result",
          "pluggy.callers", "pluggy.hooks", "pluggy.manager")
for _name in _WATCH:
    try:
        __import__(_name)
    except Exception:  # noqa: BLE001 - another pytest/pluggy version: not every module exists
        pass


# classes whose every member is watched: those that make, carry and deliver a test's report
# (pytest itself changes other classes at run time: legacy-path properties, warning flags)
_DEEP = frozenset({"TestReport", "BaseReport", "CollectReport", "CallInfo", "HookCaller",
                   "_HookCaller", "HookImpl", "PluginManager", "Result", "_Result",
                   "HookRelay", "_HookRelay"})


def _members(obj):
    """(name, value) of what identifies a watched function or class: a function's code; for
    the classes in _DEEP their own members (functions with their code)."""
    if isinstance(obj, types.FunctionType):
        return [("__code__", obj.__code__)]
    if getattr(obj, "__name__", None) not in _DEEP:
        return []
    out = []
    for k, v in list(vars(obj).items()):
        out.append((k, v))
        f = getattr(v, "__func__", v)
        if isinstance(f, types.FunctionType):
            out.append((k + ".__code__", f.__code__))
    return out


def _snapshot():
    snap = {}
    for modname in _WATCH + (__name__,):
        mod = sys.modules.get(modname)
        if mod is None:
            continue
        for attr, val in list(vars(mod).items()):
            if isinstance(val, (types.FunctionType, type)) and _protected_module(val):
                key = modname + "." + attr
                snap[key] = (mod, attr, val, _members(val))
    return snap


_SNAP = _snapshot()
_ARMED.append(True)
_REPORTED = set()
_STATE = {"pm": None, "mine": {}}


def _changes():
    """What differs from the snapshot (empty: nothing watched was touched)."""
    bad = []
    for key, (mod, attr, val, members) in _SNAP.items():
        if vars(mod).get(attr) is not val:
            bad.append(key)
        else:
            now = dict(_members(val))
            was = dict(members)
            diff = sorted(k for k in set(now) | set(was) if now.get(k) is not was.get(k))
            if diff:
                bad.append(key + " (" + ", ".join(diff[:5]) + ")")
    pm = _STATE["pm"]
    if pm is not None:
        for hookname, fn in _STATE["mine"].items():
            try:
                impls = getattr(pm.hook, hookname).get_hookimpls()
                if not any(getattr(i, "function", None) is fn for i in impls):
                    bad.append("the reporter's " + hookname + " is no longer called")
            except Exception:  # noqa: BLE001 - a hook the code under test replaced may raise anything
                bad.append("pytest's hook " + hookname + " cannot be inspected")
    return bad


def check():
    """Report every change to what was recorded (each once)."""
    for what in _changes():
        if what not in _REPORTED:
            _REPORTED.add(what)
            _emit({"ev": "tamper", "what": "changed: " + what})


def _text(longrepr):
    if longrepr is None:
        return ""
    try:
        s = str(longrepr)
    except Exception:  # noqa: BLE001 - an unprintable report is a report
        s = "<unprintable>"
    return s if len(s) <= _CAP else s[: _CAP // 2] + "\n...\n" + s[-_CAP // 2:]


def pytest_configure(config):
    _STATE["pm"] = config.pluginmanager
    mod = sys.modules[__name__]
    _STATE["mine"] = {n: getattr(mod, n) for n in (
        "pytest_collectreport", "pytest_collection_finish", "pytest_runtest_logreport",
        "pytest_sessionfinish", "pytest_runtest_call")}


def pytest_collectreport(report):
    if report.failed:
        _emit({"ev": "collecterror", "nodeid": report.nodeid, "longrepr": _text(report.longrepr)})


def pytest_collection_finish(session):
    check()
    _emit({"ev": "collected", "ids": [item.nodeid for item in session.items]})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    try:
        exc = outcome.excinfo
    except Exception:  # noqa: BLE001 - an outcome the code under test forged may raise anything
        exc = None
    _emit({"ev": "call", "nodeid": item.nodeid, "raised": exc is not None,
           "exc": type(exc[1]).__name__ if exc is not None else ""})


def pytest_runtest_logreport(report):
    if report.when == "call":
        check()
    _emit({
        "ev": "report",
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "xfail": bool(getattr(report, "wasxfail", False)) if hasattr(report, "wasxfail") else False,
        "longrepr": _text(report.longrepr) if report.outcome != "passed" else "",
    })


def pytest_sessionfinish(session, exitstatus):
    check()
    _emit({"ev": "finish", "exitstatus": int(exitstatus)})


def run(args):
    """pytest.main(args), then the last identity check and the record that it was made."""
    code = pytest.main(args)
    check()
    _emit({"ev": "checked"})
    return int(code)
