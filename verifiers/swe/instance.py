"""The SWE-bench instance model, loader-independent.

Accepts both spellings of the test lists that occur in the wild: JSON lists (the SWE-bench
files in ``shared/data/swe``) and JSON-encoded strings (the Hugging Face copy), plus ``""``
for "none given".
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .diffs import files_in_diff

NON_TEST_EXTS = (".json", ".png", ".csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml",
                 ".toml", ".cfg", ".ini", ".rst")


class InstanceError(ValueError):
    """A record that is not a usable SWE-bench instance; the message names the field."""


def parse_test_list(value: Any, field_name: str, instance_id: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InstanceError(
                f"{instance_id}: {field_name} is a string but not JSON; give a list of test ids "
                "or a JSON-encoded list"
            ) from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InstanceError(f"{instance_id}: {field_name} must be a list of test-id strings")
    return tuple(value)


@dataclass(frozen=True)
class SWEInstance:
    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str = ""  # gold patch ("" when the dataset has none)
    test_patch: str = ""
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: tuple[str, ...] = ()
    version: str = ""
    environment_setup_commit: str | None = None
    test_cmd: str | None = None  # optional: overrides the repository's test command
    hints_text: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_record(record: Mapping[str, Any]) -> "SWEInstance":
        iid = record.get("instance_id")
        if not isinstance(iid, str) or not iid:
            raise InstanceError("record without an 'instance_id'; every SWE-bench instance needs one")
        for key in ("repo", "base_commit", "problem_statement"):
            if not isinstance(record.get(key), str):
                raise InstanceError(f"{iid}: missing or non-string field {key!r}")
        known = {
            "instance_id", "repo", "base_commit", "problem_statement", "patch", "test_patch",
            "FAIL_TO_PASS", "PASS_TO_PASS", "version", "environment_setup_commit", "test_cmd",
            "hints_text",
        }
        return SWEInstance(
            instance_id=iid,
            repo=record["repo"],
            base_commit=record["base_commit"],
            problem_statement=record["problem_statement"],
            patch=record.get("patch") or "",
            test_patch=record.get("test_patch") or "",
            fail_to_pass=parse_test_list(record.get("FAIL_TO_PASS"), "FAIL_TO_PASS", iid),
            pass_to_pass=parse_test_list(record.get("PASS_TO_PASS"), "PASS_TO_PASS", iid),
            version=str(record.get("version") or ""),
            environment_setup_commit=record.get("environment_setup_commit"),
            test_cmd=record.get("test_cmd"),
            hints_text=record.get("hints_text") or "",
            meta={k: v for k, v in record.items() if k not in known},
        )

    def to_record(self) -> dict[str, Any]:
        rec = {
            "instance_id": self.instance_id,
            "repo": self.repo,
            "base_commit": self.base_commit,
            "problem_statement": self.problem_statement,
            "patch": self.patch,
            "test_patch": self.test_patch,
            "FAIL_TO_PASS": list(self.fail_to_pass),
            "PASS_TO_PASS": list(self.pass_to_pass),
            "version": self.version,
            "environment_setup_commit": self.environment_setup_commit,
            "hints_text": self.hints_text,
        }
        if self.test_cmd:
            rec["test_cmd"] = self.test_cmd
        rec.update(self.meta)
        return rec

    @property
    def test_files(self) -> tuple[str, ...]:
        """Files the test patch touches: the grader resets and owns them."""
        return files_in_diff(self.test_patch)

    @property
    def test_targets(self) -> tuple[str, ...]:
        """What the test command runs: the test patch's files minus data files (SWE-bench's
        convention)."""
        return tuple(f for f in self.test_files if not f.lower().endswith(NON_TEST_EXTS))

    @property
    def repo_slug(self) -> str:
        """``owner/name`` as an image-name-safe token: ``owner__name``."""
        return self.repo.replace("/", "__").lower()
