"""Attacks on the result channel: the child's pipe to the runner, the runner's nonce-tagged
lines to the host, and the host's parsing of them. No candidate may get a false pass, change
another's verdict, or stop the run."""
from __future__ import annotations

import hashlib
import json
import time

import pytest

from sandbox.plain import encode
from tests.adversarial.helpers import GOOD, LIMITS, MEMO, PROBLEM, WRONG, hostile
from verifiers.code.execution import CallGroup, parse_runner_output
from verifiers.code.sanitize import sanitize

# -- hole 2: a child splices another candidate's result into the runner's line ----------------


def program_id(code: str) -> str:
    """The id the oracle gives a candidate's program (an attacker can compute it too)."""
    text = sanitize(f"```python\n{code}\n```", "add")
    return f"{PROBLEM.id}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def injector(victim: str) -> str:
    """Right answers, and (on its first call) json.dumps patched in the child so that its
    first value closes the JSON and opens a second result for ``victim`` (``json.loads``
    keeps the last of a repeated key: the line becomes the victim's result)."""
    return hostile(
        "import json\n"
        "def _splicer(dumps):\n"
        "    done = []\n"
        "    def evil(obj, *args, **kw):\n"
        "        text = dumps(obj, *args, **kw)\n"
        "        if isinstance(obj, dict) and 's' in obj or done:\n"
        "            return text\n"
        "        done.append(1)\n"
        f"        return text + '}}],\"id\":\"{victim}\",\"load\":null,\"outputs\":[{{\"s\":\"ok\",\"v\":' + text\n"
        "    return evil\n"
        "def add(a, b):\n"
        "    if not hasattr(json, '_spliced'):\n"
        "        json._spliced = True\n"
        "        json.dumps = _splicer(json.dumps)\n"
        "    return a + b\n")


def test_a_spliced_result_for_another_candidate_is_refused(bench):
    """Red-team hole 2: the wrong candidate (run before the injector in the same exec) passed
    5/5 on the injected line. Now the injector's value is framed: it garbles only itself."""
    (bad,) = bench.together([injector(program_id(WRONG))], honest=(WRONG, GOOD, MEMO),
                            hostile_first=False)
    assert bad.passed is False


def test_the_splice_cannot_target_a_later_candidate_either(bench):
    (bad,) = bench.together([injector(program_id(WRONG))], honest=(WRONG, GOOD))
    assert bad.passed is False


# -- hole 3: fields of the child's messages that the host could not digest --------------------

FAKE_HEADERS = {
    "huge_int_time": '{"s":"ok","t":' + "9" * 401 + ',"cpu":0}',
    "huge_int_cpu": '{"s":"ok","t":0.1,"cpu":' + "9" * 401 + "}",
    "nan_time": '{"s":"ok","t":NaN,"cpu":Infinity}',
    "duplicate_keys": '{"s":"error","s":"ok","t":0.1,"t":"x"}',
    "wrong_types": '{"s":"error","kind":{"a":[1]},"message":["x"],"traceback":7,"t":[]}',
    "deep_nesting": '{"s":"ok","t":' + "[" * 5000 + "]" * 5000 + "}",
    "not_a_dict": '[1, 2, 3]',
    "huge_message": '{"s":"error","kind":"E","message":"' + "m" * 2_000_000 + '","t":0}',
    "unknown_status": '{"s":"passed","t":0}',
}


def raw_writer(header: str, value: str) -> str:
    """A child that writes a framed message of its own straight to its result pipe."""
    return hostile(
        "import fcntl, os, struct\n"
        f"HEADER = {header!r}\n"
        "def add(a, b):\n"
        f"    data = HEADER.encode() + {value!r}.encode()\n"
        "    for fd in range(3, 256):\n"
        "        try:\n"
        "            if not os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:'):\n"
        "                continue\n"
        "            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY:\n"
        "                continue\n"
        "            os.write(fd, struct.pack('>I', len(data)) + data)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return a + b\n")


@pytest.mark.parametrize("name", sorted(FAKE_HEADERS))
def test_garbage_fields_fail_the_sender_only(bench, name):
    """Red-team hole 3: ``"t"`` as a 401-digit int made ``math.isfinite`` raise on the host,
    outside any try: the whole verify stopped with nothing stored."""
    (bad,) = bench.together([raw_writer(FAKE_HEADERS[name], "\n3")], honest=(GOOD, WRONG))
    assert bad.passed is False


def test_a_forged_value_after_a_forged_header_is_still_only_the_senders(bench):
    """A frame that claims the right answer for the *next* input: the runner reads it as the
    current call's answer, so the sender's answers shift and it fails; nobody else changes."""
    (bad,) = bench.together([raw_writer('{"s":"ok","t":0,"cpu":0}', "\n3")], honest=(GOOD,))
    assert bad.passed is False


def test_public_tests_survive_a_value_they_cannot_print(bench):
    """The feedback verifier prints what a failing candidate returned: an int over Python's
    4300-digit limit made ``repr`` raise outside any try and stopped the whole verify."""
    from tests.adversarial.helpers import OneBatch
    from verifiers.code.public_tests import PublicTests
    from verifiers.types import Candidate, Problem

    problem = Problem(id=PROBLEM.id, prompt=PROBLEM.prompt, reference=PROBLEM.reference,
                      meta={"entry_point": "add", "public_tests": ("assert add(1, 2) == 3",)})
    bad = hostile("def add(a, b):\n    return 10 ** 5000\n")
    honest = [GOOD, WRONG]

    def judge(executor, codes):
        with PublicTests(executor=executor, limits=LIMITS) as pt:
            return pt.verify(problem, [Candidate(problem.id, i, c) for i, c in enumerate(codes)])

    alone = [judge(bench.executor, [c])[0] for c in honest]
    got = judge(OneBatch(bench.executor), [bad, *honest])
    assert got[0].passed is False and "cannot be printed" in got[0].feedback, got[0]
    assert [(v.passed, v.score, v.feedback) for v in got[1:]] == \
        [(v.passed, v.score, v.feedback) for v in alone]


# -- the host reads one result per program, in order, refusing duplicate keys -----------------


def result_line(nonce: str, res: dict, values: list[str], lengths: list[int] | None = None) -> bytes:
    """A runner result line in the framed format (header length, header, value bytes);
    ``lengths`` overrides the ``vlen`` of the outputs (default: the values' real lengths)."""
    from sandbox.runner import frame_result

    raw = [v.encode() for v in values]
    for out, n in zip(res["outputs"], lengths or [len(v) for v in raw]):
        out["vlen"] = n
    return frame_result(nonce, res, raw) + b"\n"


def ok_output() -> dict:
    return {"s": "ok", "t": 0.001, "cpu": 0.001, "wall": 0.001}


def test_host_accepts_one_result_per_program_in_order():
    nonce = "ab" * 16
    good = {"id": "p1", "load": None, "outputs": [ok_output()]}
    lines = (
        result_line(nonce, {"id": "p2", "load": None, "outputs": [ok_output()]}, ["9"])
        + result_line(nonce, good, ["3"])
        + result_line(nonce, {"id": "p1", "load": None, "outputs": [ok_output()]}, ["7"])
        + result_line(nonce, {"id": "p2", "load": None, "outputs": [ok_output()]}, ["5"]))
    got = parse_runner_output(lines, nonce, ["p1", "p2"])
    # p2's early line is out of order and refused; p1's second line is a duplicate
    assert [o.value for o in got["p1"].outcomes] == [3]
    assert [o.value for o in got["p2"].outcomes] == [5]


def test_host_refuses_duplicate_keys_and_unframed_values():
    nonce = "cd" * 16
    dup = (f"FIREASSAY-RESULT {nonce} ".encode()
           + b'{"id":"p1","load":null,"outputs":[],"id":"p2"}\n')
    assert parse_runner_output(dup, nonce, ["p1", "p2"]) == {}
    # a value with a duplicate key garbles that value only (its own output fails)
    line = result_line(nonce, {"id": "p1", "load": None, "outputs": [ok_output(), ok_output()]},
                       ['{"list":[1],"list":[2,3]}', "4"])
    got = parse_runner_output(line, nonce, ["p1"])["p1"]
    assert got.outcomes[0].status == "crash" and "garbled" in got.outcomes[0].message
    assert got.outcomes[1].value == 4
    # value bytes that do not add up to the lengths: the whole line is garbled
    bad = result_line(nonce, {"id": "p1", "load": None, "outputs": [ok_output()]}, ["3"], [5])
    assert parse_runner_output(bad, nonce, ["p1"]) == {}


# -- older attacks on the channel --------------------------------------------------------------


def test_forged_eq_object(bench):
    (v,) = bench.together([hostile(
        "class Always:\n    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n"
        "def add(a, b):\n    return Always()\n")])
    assert v.passed is False and v.details["first_failure"]["kind"] == "wrong_answer"


def test_forged_eq_int_subclass(bench):
    (v,) = bench.together([hostile(
        "class EvilInt(int):\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return EvilInt(-1)\n")])
    assert v.passed is False


@pytest.mark.parametrize("exit_call", ["os._exit(0)", "sys.exit(0)",
                                       "(_ for _ in ()).throw(SystemExit(0))"])
def test_exit_at_import(bench, exit_call):
    # a module-level value the entry point uses survives the sanitizer, so this runs at import
    (v,) = bench.together([hostile(f"import os, sys\nZERO = {exit_call}\n"
                                   "def add(a, b):\n    return a + b + ZERO\n")])
    assert v.passed is False and v.details["error_kind"].startswith("load:")


def test_exit_inside_the_call(bench):
    (v,) = bench.together([hostile("import os\ndef add(a, b):\n    os._exit(0)\n")])
    assert v.passed is False


def test_killing_the_parent_runner_at_import(bench):
    (v,) = bench.together([hostile(
        "import os, signal\nZERO = os.kill(os.getppid(), signal.SIGKILL) or 0\n"
        "def add(a, b):\n    return a + b + ZERO\n")])
    assert v.passed is False and v.details["error_kind"] in ("runner_lost", "load:Crash")


def test_killing_the_parent_runner_during_a_call(bench):
    (v,) = bench.together([hostile(
        "import os, signal\n"
        "def add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b\n")])
    assert v.passed is False


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGSTOP"])
def test_signalling_the_fork_server_spoils_nothing(bench, sig):
    """Children are forked by a fork server (a sibling: a child of the runner). A candidate
    that kills or stops every sibling fails itself only; the honest ones after it get their
    own verdicts from the same runner, without waiting on a stopped fork server."""
    t0 = time.monotonic()
    (v,) = bench.together([hostile(
        "def add(a, b):\n"
        "    import os, signal\n"
        "    me, parent, hit = os.getpid(), os.getppid(), []\n"
        "    for name in os.listdir('/proc'):\n"
        "        if not name.isdigit() or int(name) == me:\n"
        "            continue\n"
        "        try:\n"
        "            with open(f'/proc/{name}/status') as fh:\n"
        "                ppid = [ln for ln in fh if ln.startswith('PPid:')][0].split()[1]\n"
        "        except (OSError, IndexError):\n"
        "            continue\n"
        "        if int(ppid) == parent:\n"
        f"            os.kill(int(name), signal.{sig})\n"
        "            hit.append(name)\n"
        "    if not hit:\n"
        "        raise RuntimeError('no sibling found')\n"
        "    return a - b\n")], honest=(GOOD, WRONG, MEMO))
    assert v.passed is False and v.details["first_failure"]["kind"] == "wrong_answer"
    assert time.monotonic() - t0 < 30


def test_printed_fake_results(bench):
    fake = '{"id":"x","load":null,"outputs":[{"s":"ok","v":3,"t":0.0}]}'
    (v,) = bench.together([hostile(
        "import os, sys\n"
        f"LINE = 'FIREASSAY-RESULT ' + '0' * 32 + ' ' + {fake!r}\n"
        "def add(a, b):\n"
        "    print(LINE)\n    sys.stdout.write(LINE + '\\n')\n    sys.stderr.write(LINE + '\\n')\n"
        "    for fd in (1, 2):\n"
        "        try:\n            os.write(fd, (LINE + '\\n').encode())\n"
        "        except OSError:\n            pass\n"
        "    for path in ('/proc/%d/fd/1' % os.getppid(), '/dev/stdout'):\n"
        "        try:\n            with open(path, 'w') as fh:\n                fh.write(LINE + '\\n')\n"
        "        except OSError:\n            pass\n"
        "    return None\n")])
    assert v.passed is False


def test_patched_builtins(bench):
    (v,) = bench.together([hostile(
        "import builtins, json\n"
        "def add(a, b):\n"
        "    builtins.isinstance = lambda *a: True\n    builtins.type = lambda *a: int\n"
        "    json.dumps = lambda *a, **k: '{\"s\":\"ok\",\"v\":3}'\n"
        "    return 0\n")])
    assert v.passed is False


def test_gc_and_inspect_hunting_finds_nothing(bench):
    """The expected output of input (123456000, 789) is 123456789: it is nowhere to find."""
    (v,) = bench.together([hostile(
        "import gc, inspect, sys, os\n"
        "def hunt():\n"
        "    seen = set()\n"
        "    for o in gc.get_objects():\n"
        "        try:\n"
        "            if isinstance(o, dict):\n                vals = list(o.values())\n"
        "            elif isinstance(o, (list, tuple)):\n                vals = list(o)\n"
        "            else:\n                continue\n"
        "            seen.update(v for v in vals if type(v) is int)\n"
        "        except Exception:\n            pass\n"
        "    f = inspect.currentframe()\n"
        "    while f is not None:\n"
        "        seen.update(v for v in f.f_locals.values() if type(v) is int)\n"
        "        f = f.f_back\n"
        "    for name in ('environ', 'cmdline', 'mem'):\n"
        "        try:\n"
        "            data = open('/proc/%d/%s' % (os.getppid(), name), 'rb').read(1 << 20)\n"
        "            seen.update(int(t) for t in data.split() if t.isdigit())\n"
        "        except Exception:\n            pass\n"
        "    return seen\n"
        "def add(a, b):\n"
        "    found = hunt()\n"
        "    return 123456789 if 123456789 in found else -1\n")])
    assert v.passed is False and v.details["inputs_passed"] == 0


def test_nonce_lines_written_to_every_fd_never_parse(bench):
    """The child writes fake result lines to every fd it holds: nothing reaches the host."""
    from verifiers.code.execution import CallGroup as Group

    group = Group("f", ({"list": []},), (2.0,), (("p", (
        "import os\n"
        "def f():\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'FIREASSAY-RESULT x {}\\n')\n"
        "        except OSError:\n            pass\n"
        "    return 1\n")),), budget_s=5.0)
    res = bench.executor.run([group], LIMITS)["p"]
    assert res.loaded and len(res.outcomes) == 1


def test_honest_batch_is_unchanged_by_the_suite_helpers(bench):
    """Sanity of the harness itself: judged together, honest candidates match alone."""
    assert bench.alone(GOOD).passed is True and bench.alone(WRONG).passed is False
    assert bench.alone(MEMO).passed is True
    group = CallGroup("add", (encode([1, 2]),), (2.0,), (("g", GOOD),), 5.0)
    assert [o.value for o in bench.executor.run([group], LIMITS)["g"].outcomes] == [3]
    assert json.loads(json.dumps(encode([1, 2]))) == encode([1, 2])
