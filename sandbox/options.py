"""Options given by name (``--selectors confidence:source=cot``, ``--engine-option``, task
options, a sandbox backend's keywords): an unknown key is an error that names the valid keys and
the closest match, found before anything is built. A generic helper like :mod:`sandbox.registry`:
sandbox backends, verifiers and ``loop`` (engines, samplers, selectors) all check with it.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Iterable, TypeVar

from sandbox.registry import Registry, UnknownNameError

T = TypeVar("T")

_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class UnknownOptionError(ValueError):
    """An option key that the thing it is given to does not take."""


def constructor_options(factory: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names ``factory`` takes; None when it takes any (``**kwargs``) or its
    signature cannot be read."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(n for n, p in params.items() if p.kind in _KEYWORD)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (a likely misspelling of it), or None."""
    found = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return found[0] if found else None


def check_options(what: str, given: Iterable[str], valid: Iterable[str] | None) -> None:
    """Refuse every key of ``given`` that is not in ``valid`` (None: any key is taken).

    ``what`` names the receiver in the message, e.g. ``"selector 'confidence'"``.
    """
    if valid is None:
        return
    valid_set = set(valid)
    unknown = [k for k in given if k not in valid_set]
    if not unknown:
        return
    parts = []
    for key in unknown:
        hint = closest(key, valid_set)
        parts.append(f"{key!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    takes = f"valid: {', '.join(sorted(valid_set))}" if valid_set else "it takes none"
    raise UnknownOptionError(f"{what} has no option {', '.join(parts)}; {takes}")


def lookup(registry: Registry[T], name: str) -> T:
    """``registry.get(name)``; an unknown name's error also names the closest known one."""
    try:
        return registry.get(name)
    except UnknownNameError as e:
        hint = closest(name, registry.names())
        if hint is None:
            raise
        raise UnknownNameError(f"{e} Did you mean {hint!r}?") from None
