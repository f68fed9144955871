"""The runner's wire protocol: every name, prefix and frame that crosses between the host, the
runner (the parent) and its children, in one place that both sides read.

The host imports this module (``verifiers.code.execution`` builds jobs and reads results with
it); inside the sandbox it is part of the one runner program (:func:`sandbox.runner.runner_source`),
so it is stdlib only.

**The job** (host -> runner, JSON on stdin; keys in :class:`Job` and :class:`Limit`)::

    {"nonce": "<hex>",                      # only the runner ever holds it
     "limits": {"memory_mb": 4096, "recursion_limit": null, "import_s": 10.0,
                "max_output_bytes": 134217728, "timing": "wall" | "cpu", "wall_factor": 3,
                "digest_nodes": 4000000, "digest_s": 60.0},
     "kill_strays": false,                  # a sandbox of its own (Sandbox.owns_user)
     "scratch": ["/work", "/tmp", ...],     # folders emptied between programs (kill_strays)
     "groups": [{"entry_point": "f", "inputs": [<tagged arg list>, ...],
                 "time_limits": [1.0, ...], "budget_s": 62.0, "stop_on_error": true,
                 # optional: the budget per part of the inputs instead, [[inputs, s], ...]
                 "budget_parts": [[3, 5.0], [40, 42.0]],
                 # timing "wall": limits and budget are wall seconds; "cpu": CPU seconds of
                 # the program's process tree, wall time up to wall_factor times (CallClock)
                 "programs": [{"id": "p0", "code": "def f(x): ..."}]}]}

**The pipes** (runner <-> child): every message is a 4-byte big-endian length
(:data:`PIPE_HEADER`) and that many bytes: a JSON object, and for a returned value a newline
and the value's JSON after it (the value may hold no newline). The runner sends the setup
``{"code", "entry_point", "limits"}``, then ``{"inputs", "stop_on_error"}``; the child answers
``{"load": null | <error>}``, ``{"ready": <inputs>}``, then one answer per input (the fields of
:class:`Msg`, statuses of :class:`Status`).

**The result line** (runner -> host, stdout), one per program, in the order given::

    FIREASSAY-RESULT <nonce> <header length> <header><values>

the header being::

    {"id": "p0", "load": null | {"kind", "message", "traceback"},
     "outputs": [{"s": "ok", "vlen": <bytes of its value>, "t": secs, "cpu": secs, "wall": secs,
                  "tree_cpu": secs}   # t, cpu: the child's own; tree_cpu: what the limit counts
                 # a value of over digest_nodes items comes as {"digest": [sha256, items]},
                 # hashed within digest_s CPU seconds more (sandbox.plain.encode_output)
                 | {"s": "error", "kind": "ValueError", "message": ..., "traceback": ...}
                 | {"s": "timeout"} | {"s": "crash", "message": ...}
                 | {"s": "skipped", "message": ...}, ...]}

and the values the outputs' ``vlen`` announce, back to back (:func:`frame_result`, read back
by :func:`read_frame`): a value is never parsed as part of anything else. The last line of a
sandbox of its own, when nothing the programs started is left running:
``FIREASSAY-END <nonce> quiet`` (:func:`end_line`).

Everything the child sends is checked field by field (:func:`seconds`, :func:`text`,
:func:`error_fields`) and rebuilt before the runner passes it on; the host checks the result
header the same way.
"""
from __future__ import annotations

import json
import struct

RESULT_PREFIX = "FIREASSAY-RESULT"
END_PREFIX = "FIREASSAY-END"  # "<END_PREFIX> <nonce> quiet": no process of ours is left
QUIET = "quiet"
# argv[0] of the runner program when it starts as a child or as the fork server
CHILD_ARG = "--fireassay-child"
FORK_SERVER_ARG = "--fireassay-zygote"
PIPE_HEADER = struct.Struct(">I")  # the length before every message on the pipes
MAX_SECONDS = 1e7  # a reported time above this (or not a number) is no time at all
KIND_CHARS, MESSAGE_CHARS, TRACEBACK_CHARS = 100, 1000, 2000


class Job:
    """Keys of the job, of its groups and of their programs (host -> runner)."""

    NONCE = "nonce"
    PYTHON = "python"  # the interpreter for fresh children (default: the runner's own)
    LIMITS = "limits"
    KILL_STRAYS = "kill_strays"
    SCRATCH = "scratch"
    GROUPS = "groups"
    ENTRY_POINT = "entry_point"
    INPUTS = "inputs"
    TIME_LIMITS = "time_limits"
    BUDGET_S = "budget_s"
    BUDGET_PARTS = "budget_parts"  # [[inputs, seconds], ...]: a budget per part, in order
    STOP_ON_ERROR = "stop_on_error"
    PROGRAMS = "programs"
    ID = "id"
    CODE = "code"


class Limit:
    """Keys of the job's ``limits`` (the runner passes them on to every child)."""

    MEMORY_MB = "memory_mb"
    RECURSION_LIMIT = "recursion_limit"
    IMPORT_S = "import_s"
    MAX_OUTPUT_BYTES = "max_output_bytes"
    TIMING = "timing"  # the CallClock rule: one of Timing
    WALL_FACTOR = "wall_factor"
    DIGEST_NODES = "digest_nodes"
    DIGEST_S = "digest_s"


class Timing:
    """Values of ``limits["timing"]``: the rules of :class:`sandbox.runner.CallClock`."""

    WALL = "wall"  # limits and budget are wall-clock seconds (EvalPlus's rule)
    CPU = "cpu"  # CPU seconds of the program's process tree; wall up to wall_factor times
    ALL = (WALL, CPU)


class Msg:
    """Keys of the child's messages and of the result header."""

    LOAD = "load"  # the code's load report: null, or an error
    READY = "ready"  # the child took this many inputs
    OUTPUTS = "outputs"  # the result header's answers, one per input
    STATUS = "s"  # one of Status
    VALUE = "v"  # the raw value bytes (inside the runner only; the line frames them by length)
    VALUE_LEN = "vlen"  # the length of the value framed after the header
    SECONDS = "t"  # wall seconds of the call, measured by the child
    CPU = "cpu"  # CPU seconds of the child's own process during the call
    WALL = "wall"  # wall seconds of the call, measured by the runner
    TREE_CPU = "tree_cpu"  # CPU seconds of the whole program during the call: what the limit counts
    KIND = "kind"  # an error's type name
    MESSAGE = "message"
    TRACEBACK = "traceback"


class Status:
    """What one call did (``Msg.STATUS``)."""

    OK = "ok"
    RETURNED = "ret"  # returned a value too big to send as data: its digest follows (child only)
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASH = "crash"
    SKIPPED = "skipped"
    FAILED = (ERROR, TIMEOUT, CRASH, SKIPPED)  # final, no value


# -- strict reading of what came from inside the sandbox ---------------------------------------


def _unique_keys(pairs: list) -> dict:
    """``object_pairs_hook``: refuse an object with a repeated key (``json.loads`` would
    silently keep the last one, which is how a spliced value once overrode a result's id)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("repeated key in a JSON object")
    return obj


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def loads_strict(data: "bytes | str") -> object:
    """``json.loads`` for data from inside the sandbox: no repeated keys, no NaN/Infinity."""
    return json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def seconds(value: object) -> "float | None":
    """A reported time: a number of seconds in [0, 1e7], else None (never raises: a 401-digit
    int compares fine but would overflow ``float``; NaN compares False)."""
    if (type(value) is int or type(value) is float) and 0 <= value <= MAX_SECONDS:
        return float(value)
    return None


def text(value: object, limit: int) -> str:
    """A string field, capped at ``limit`` characters (``limit`` < 0: its last ones); anything
    that is not a string: ''."""
    if type(value) is not str:
        return ""
    return value[limit:] if limit < 0 else value[:limit]


def error_fields(head: dict) -> dict:
    """An error's kind, message and traceback, checked and capped."""
    return {Msg.KIND: text(head.get(Msg.KIND), KIND_CHARS) or "Error",
            Msg.MESSAGE: text(head.get(Msg.MESSAGE), MESSAGE_CHARS),
            Msg.TRACEBACK: text(head.get(Msg.TRACEBACK), TRACEBACK_CHARS)}


# -- the result line ----------------------------------------------------------------------------


def frame_result(nonce: str, res: dict, values: "list[bytes]") -> bytes:
    """One result line (no newline): ``PREFIX nonce <header length> <header><values>``. The
    header is the runner's own JSON and gives each value's length (``vlen`` of the outputs
    that carry one, in order), so a value is never parsed as part of anything else."""
    head = json.dumps(res, separators=(",", ":")).encode()
    return b"".join([f"{RESULT_PREFIX} {nonce} {len(head)} ".encode(), head, *values])


def read_frame(line: bytes, nonce: str) -> "tuple[dict, list[bytes]] | None":
    """The header and the value bytes of a result line that carries ``nonce``; None for any
    other line, and for one whose header is not strict JSON or whose lengths do not add up."""
    import hmac

    parts = line.split(b" ", 3)
    if len(parts) != 4 or parts[0] != RESULT_PREFIX.encode():
        return None
    if not hmac.compare_digest(parts[1], nonce.encode()):
        return None
    if not parts[2].isdigit() or len(parts[2]) > 12:
        return None
    size, body = int(parts[2]), parts[3]
    if size > len(body):
        return None
    try:
        head = loads_strict(body[:size])
    except (ValueError, RecursionError):
        return None
    outputs = head.get(Msg.OUTPUTS) if type(head) is dict else None
    if type(outputs) is not list:
        return None
    lengths = []
    for out in outputs:
        if type(out) is dict and Msg.VALUE_LEN in out:
            n = out[Msg.VALUE_LEN]
            if type(n) is not int or n < 0:
                return None
            lengths.append(n)
    if sum(lengths) != len(body) - size:
        return None
    values, pos = [], size
    for n in lengths:
        values.append(body[pos:pos + n])
        pos += n
    return head, values


def end_line(nonce: str) -> bytes:
    """The runner's last line when nothing its programs started is left running."""
    return f"{END_PREFIX} {nonce} {QUIET}\n".encode()
