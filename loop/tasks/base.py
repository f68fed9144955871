"""A task = loader + prompt template + oracle + feedback verifier + answer format for selectors."""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Collection

from verifiers import VERIFIERS, Problem, Verifier, create_verifier
from verifiers.options import check_options, lookup
from verifiers.registry import verifier_options

from .data import DataError, DataWarning, check_limit, load_from_hub, read_records, record_lines, resolve_data_file

# what the model is told between turns: with --feedback retry (decided by the gold answer), and
# when a feedback verifier failed a candidate without saying why
RETRY_FEEDBACK = "Your answer is not correct. Try again."
UNSPECIFIED_FEEDBACK = "The answer did not pass the checks. Try again."


class Task(ABC):
    name: ClassVar[str]
    oracle_name: ClassVar[str]
    feedback_name: ClassVar[str | None] = None  # gold-free verifier whose feedback the model sees
    answer_format: ClassVar[str | None] = None  # how selectors key answers (see verifiers.answers)
    default_selectors: ClassVar[tuple[str, ...]] = ("majority",)
    data_files: ClassVar[list[str]] = []  # file names looked for under --data dir / $FIREASSAY_DATA/<task>
    data_folders: ClassVar[tuple[str, ...]] = ()  # other folders of a data root that may hold them
    own_data: ClassVar[bool] = False  # True: a data root without the file is fine (own fallback set)
    hub: ClassVar[tuple[str, str | None, str] | None] = None  # (path, config, split)

    def __init__(self, data: str | Path | None = None, **options: Any) -> None:
        """``options`` go to the oracle (``tests="base"`` for code tasks, ``repeat=R`` for SWE);
        one the oracle does not take, or a value it refuses (its ``check_values``), is an error
        here, before anything is loaded."""
        check_options(f"task {self.name!r} (its oracle {self.oracle_name!r})", options,
                      verifier_options(self.oracle_name))
        check_values = getattr(lookup(VERIFIERS, self.oracle_name), "check_values", None)
        if check_values is not None:
            check_values(options)
        self.data = data
        self.options = options
        self._records: list[dict[str, Any]] | None = None  # cached_records()

    # -- data -------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        path = self.data_file()
        if path is not None:
            return read_records(path)
        return self.hub_records()

    def data_file(self) -> Path | None:
        """The local data file (``--data``, ``$FIREASSAY_DATA``), or None for the hub."""
        return resolve_data_file(self.name, self.data, self.data_files, self.data_folders,
                                 missing_ok=self.own_data)

    def hub_records(self) -> list[dict[str, Any]]:
        if self.hub is None:
            raise DataError(f"task {self.name!r} needs --data PATH (or $FIREASSAY_DATA/{self.name}/)")
        hub_path, config, split = self.hub
        return load_from_hub(hub_path, split, config, task=self.name)

    def load(self, limit: int | None = None, only: Collection[str] | None = None) -> list[Problem]:
        """The first ``limit`` problems (all with None); ``only``: just those of them with these
        ids (a task that reads ids from its records, :meth:`record_id`, builds no other: MBPP+
        encodes every test input of a problem it builds). Refused with a DataError: a limit
        below 1, a dataset without problems, two problems with one id."""
        check_limit(limit)
        rows = self.cached_records()
        if not rows:
            raise DataError(f"{self.data_source()}: no problems in it; pass the task's data file with --data")
        ids = self.record_ids(rows)
        if only is not None and ids is not None and len(set(ids)) == len(ids):
            upto = rows if limit is None else rows[:limit]
            return [self.to_problem(i, r) for i, r in enumerate(upto) if ids[i] in only]
        problems = self.unique_problems(self.to_problems(rows, limit))
        return problems if only is None else [p for p in problems if p.id in only]

    def problem_ids(self, limit: int | None = None) -> list[str]:
        """The ids of :meth:`load`'s problems: read from the records where the task can
        (:meth:`record_id`, each id once), else from the problems built."""
        check_limit(limit)
        rows = self.cached_records()
        ids = self.record_ids(rows) if rows else None
        if ids is not None and len(set(ids)) == len(ids):
            return ids if limit is None else ids[:limit]
        return [p.id for p in self.load(limit)]

    def cached_records(self) -> list[dict[str, Any]]:
        """:meth:`records`, read once per task object."""
        if self._records is None:
            self._records = self.records()
        return self._records

    def record_id(self, index: int, record: dict[str, Any]) -> str | None:
        """A record's problem id without building the problem; None: only :meth:`to_problem`
        knows it (the default)."""
        return None

    def record_ids(self, rows: list[dict[str, Any]]) -> list[str] | None:
        ids = [self.record_id(i, r) for i, r in enumerate(rows)]
        return None if any(i is None for i in ids) else ids  # type: ignore[return-value]

    def to_problems(self, rows: list[dict[str, Any]], limit: int | None) -> list[Problem]:
        """Problems of the first ``limit`` records (a task may build only those)."""
        problems = [self.to_problem(i, r) for i, r in enumerate(rows)]
        return problems[:limit] if limit is not None else problems

    def data_source(self) -> str:
        """The data file, or the hub dataset, as messages name it."""
        path = self.data_file()
        return str(path) if path is not None else f"hub dataset {self.hub[0] if self.hub else self.name!r}"

    def unique_problems(self, problems: list[Problem]) -> list[Problem]:
        """``problems`` with each id once. A record repeated exactly (SWE-bench's dev split ships
        one) is kept once, with a :class:`DataWarning` naming both records; two different
        problems under one id would share a run's samples, so they are refused (DataError)."""
        first: dict[str, int] = {}
        out: list[Problem] = []
        for i, p in enumerate(problems):
            if p.id not in first:
                first[p.id] = i
                out.append(p)
                continue
            path = self.data_file()
            lines = record_lines(path) if path is not None else None
            where = (f"{path}:{lines[first[p.id]]} and {path}:{lines[i]}" if lines and len(lines) > i
                     else f"{self.data_source()}: records {first[p.id]} and {i} (from 0)")
            if problems[first[p.id]] != p:
                raise DataError(f"{where}: problem id {p.id!r} appears twice with different contents; each "
                                "problem needs its own id (fix or drop one of them)")
            warnings.warn(DataWarning(f"{where}: problem id {p.id!r} appears twice, identical; used once"),
                          stacklevel=2)
        return out

    @abstractmethod
    def to_problem(self, index: int, record: dict[str, Any]) -> Problem: ...

    @abstractmethod
    def reference_text(self, problem: Problem) -> str:
        """The dataset's own solution, as a candidate would write it (for ``--reference``)."""

    # -- verifiers --------------------------------------------------------------------------
    def oracle(self, **placement: Any) -> Verifier:
        """The oracle with the task's options; ``placement``: where it runs (``executor=`` from
        a cluster session), never a judging option."""
        return create_verifier(self.oracle_name, **self.options, **placement)

    def votes_format(self) -> str | None:
        """How this task's selectors key answers (a ``verifiers.answers`` format name): the
        class's ``answer_format``, unless a task option changes how the oracle reads answers."""
        return self.answer_format

    def feedback_verifier(self, **placement: Any) -> Verifier | None:
        return create_verifier(self.feedback_name, **placement) if self.feedback_name else None
