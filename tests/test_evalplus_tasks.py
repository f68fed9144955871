"""The mbppplus / humanevalplus tasks load the real EvalPlus files (no execution here)."""
from __future__ import annotations

import pytest

from loop.tasks import DataError, get_task
from sandbox.plain import decode
from verifiers.code.public_tests import doctest_public_tests, mbpp_public_tests, parse_public_test
from verifiers.code.sanitize import sanitize


@pytest.fixture(scope="module")
def mbpp(shared_data):
    return get_task("mbppplus", data=shared_data / "evalplus").load()


@pytest.fixture(scope="module")
def humaneval(shared_data):
    return get_task("humanevalplus", data=shared_data / "evalplus").load()


def test_counts_ids_and_task_wiring(mbpp, humaneval, shared_data):
    assert len(mbpp) == 378 and len(humaneval) == 164
    assert mbpp[0].id == "Mbpp/2" and humaneval[0].id == "HumanEval/0"
    task = get_task("mbppplus", data=shared_data / "evalplus")
    assert task.oracle_name == "evalplus" and task.feedback_name == "public_tests"
    assert task.default_selectors == ("public_tests",) and task.answer_format is None
    keys = {p.reference["cache_key"] for p in mbpp}
    assert len(keys) == 1 and len(next(iter(keys))) == 64


def test_inputs_restored_like_evalplus(mbpp):
    by_id = {p.id: p for p in mbpp}
    first = decode(by_id["Mbpp/2"].reference["base_input"][0])
    assert first == [(3, 4, 5, 6), (5, 7, 4, 10)] and type(first[0]) is tuple
    assert type(decode(by_id["Mbpp/124"].reference["base_input"][0])[1]) is complex
    assert type(decode(by_id["Mbpp/252"].reference["base_input"][0])[0]) is complex
    d = decode(by_id["Mbpp/722"].reference["base_input"][0])[0]
    assert all(type(v) is tuple for v in d.values())
    nested = decode(by_id["Mbpp/63"].reference["base_input"][0])[0]
    assert all(type(t) is tuple for t in nested)


def test_prompts_and_reference_text(mbpp, humaneval):
    p = mbpp[0]
    user = p.prompt[-1]["content"]
    assert "similar_elements" in user and "```python" in user
    assert "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)" in user
    task_text = get_reference_text(p)
    assert task_text.startswith("```python") and "def similar_elements" in task_text
    h = humaneval[0]
    assert "def has_close_elements" in h.prompt[-1]["content"]
    # the canonical solution survives the sanitizer
    for q in (p, h):
        code = sanitize(get_reference_text(q), q.meta["entry_point"])
        assert f"def {q.meta['entry_point']}" in code


def get_reference_text(problem):
    from loop.tasks.evalplus import HumanEvalPlusTask, MbppPlusTask

    cls = MbppPlusTask if problem.id.startswith("Mbpp") else HumanEvalPlusTask
    return cls().reference_text(problem)


def test_public_tests_are_prompt_visible_and_parse(mbpp, humaneval):
    for p in mbpp:
        tests = p.meta["public_tests"]
        assert tests, p.id
        for t in tests:
            assert t in p.prompt[-1]["content"]
        assert all(parse_public_test(t, p.meta["entry_point"]) for t in tests), p.id
    with_tests = [p for p in humaneval if p.meta["public_tests"]]
    assert len(with_tests) >= 100  # >>> examples and "f(x) == y" lines
    hidden = {p.id: p.reference for p in humaneval}
    for p in with_tests:  # every public test comes from the prompt text
        for t in p.meta["public_tests"]:
            call = t[len("assert "):].split(" == ")[0]
            assert call.replace(" ", "") in p.prompt[-1]["content"].replace(" ", ""), (p.id, t)
    assert hidden


def test_doctest_extraction():
    prompt = ('def f(x):\n    """Double.\n    >>> f(2)\n    4\n    >>> f(\'a\')\n    \'aa\'\n\n'
              '    f(3) ➞ 6\n    >>> print(f(1))\n    2\n    >>> f(\n    """\n')
    assert doctest_public_tests(prompt, "f") == ["assert f(2) == 4", "assert f('a') == 'aa'",
                                                 "assert f(3) == 6"]
    assert mbpp_public_tests("\nassert f(1)==2\nassert math.isclose(f(2), 4)\n") == [
        "assert f(1)==2", "assert math.isclose(f(2), 4)"]
    t = parse_public_test("assert set(f((1, 2))) == set((2,)) and f([1]) == 1", "f")
    assert t is not None and t.calls == (((1, 2),), ([1],))
    assert parse_public_test("assert f(f(1)) == 1", "f") is None
    assert parse_public_test("print(f(1))", "f") is None


def test_record_without_inputs_is_a_clear_error(tmp_path):
    import json

    path = tmp_path / "MbppPlus.jsonl"
    path.write_text(json.dumps({"task_id": "Mbpp/2", "prompt": "x", "entry_point": "f",
                                "canonical_solution": "def f(): pass", "test": "..."}) + "\n")
    with pytest.raises(DataError, match="base_input"):
        get_task("mbppplus", data=path).load()
