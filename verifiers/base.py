"""The one interface every checker and selector implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal, Mapping, Sequence

from .options import constructor_options
from .types import Candidate, Problem, Verdict

SubsetRule = Literal["argmax", "vote", "weighted_vote"]


class Verifier(ABC):
    """Judges one problem's candidates.

    ``uses_reference`` True marks an oracle (judges against gold); False marks a selector.
    Selectors also say how the report re-selects inside a k-subset (``subset_rule``):
    ``argmax`` picks the highest stored score, ``vote`` the largest answer class,
    ``weighted_vote`` the answer class with the largest summed score. ``needs_answer_format``:
    the selector keys answers by the task's answer format and cannot work without one.
    """

    name: ClassVar[str]
    uses_reference: ClassVar[bool]
    subset_rule: ClassVar[SubsetRule] = "argmax"
    needs_answer_format: ClassVar[bool] = False

    @classmethod
    def option_names(cls) -> frozenset[str] | None:
        """The options ``cls(**options)`` takes; ``create_verifier`` refuses any other before
        building. None: any. The default reads the constructor's keywords; a verifier whose
        constructor takes ``**options`` overrides this to list them."""
        return constructor_options(cls)

    @classmethod
    def check_values(cls, options: Mapping[str, Any]) -> None:
        """Refuse option values the constructor would refuse (a ``ValueError`` naming the valid
        ones), without building anything: called on ``--selectors`` specs before any work. The
        default checks nothing; a verifier with enumerated options overrides it."""
        return None

    @abstractmethod
    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        """Judge one problem's candidates together (a vote or a batch needs them all).

        Args:
            problem: the problem (its ``reference`` is the gold an oracle judges against; a
                selector never reads it).
            candidates: its candidates, hostile input: whatever they hold fails only themselves.

        Returns:
            One verdict per candidate, in order. A candidate the verifier could not judge (its
            checker timed out, the infrastructure lost it) gets ``passed=None``, never False.

        Raises:
            SandboxUnavailable: the sandbox infrastructure failed past its retries (nothing
                was judged; the caller may run the problem again).
        """

    def verify_many(
        self, items: Sequence[tuple[Problem, Sequence[Candidate]]]
    ) -> list[list[Verdict]]:
        """Judge several problems; batched verifiers override this to share a pool or batch."""
        return [self.verify(p, cs) for p, cs in items]

    def prepare(self) -> None:  # noqa: B027 - optional hook: most verifiers need nothing
        """Start what judging will need (a sandbox pool's containers) in the background, once
        the caller has checked its input; the first judging call waits for it. Default:
        nothing."""

    def judging_rules(self) -> dict[str, str]:
        """The named rules this verifier judges by, where a verdict depends on the choice
        (the code oracle's ``{"timing": "evalplus"}``): a run stores them and its report and
        ``fireassay verify`` print them. Default: none."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook: most verifiers hold nothing
        """Release pools or containers. Safe to call twice."""

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
