"""verifiers.code.sanitize: the program out of a model response."""
from __future__ import annotations

from verifiers.code.sanitize import extract_code, sanitize


def test_last_fenced_block_that_defines_the_entry_point():
    text = ("Here:\n```python\ndef f(x):\n    return 1\n```\nUsage:\n```python\nprint(f(2))\n```")
    assert sanitize(text, "f").strip() == "def f(x):\n    return 1"
    text2 = "```python\ndef f(x):\n    return 1\n```\n```python\ndef f(x):\n    return 2\n```"
    assert "return 2" in sanitize(text2, "f")


def test_whole_text_without_fences_and_test_code_dropped():
    text = ("import math\nfrom typing import List\n\nLIMIT = 10\nUNUSED = 3\n\n"
            "def helper(y):\n    return math.sqrt(y) + LIMIT\n\n"
            "def f(x: List[int]):\n    return helper(x[0])\n\n"
            "def other():\n    return 0\n\n"
            "print(f([4]))\nassert f([4]) == 12\n"
            "if __name__ == '__main__':\n    f([1])\n")
    out = sanitize(text, "f")
    assert "import math" in out and "from typing import List" in out
    assert "LIMIT = 10" in out and "def helper" in out and "def f" in out
    assert "UNUSED" not in out and "def other" not in out
    assert "print(" not in out and "assert" not in out and "__main__" not in out
    ns: dict = {}
    exec(out, ns)
    assert ns["f"]([4]) == 12.0


def test_classes_decorators_and_functions_without_return_are_kept():
    text = ("```python\nimport functools\n\nclass Node:\n    pass\n\n@functools.lru_cache(None)\n"
            "def g(n):\n    return n if n < 2 else g(n - 1) + g(n - 2)\n\n"
            "def fill(a):\n    a.append(Node())\n\n"
            "def f(n):\n    a = []\n    fill(a)\n    return g(n)\n```")
    out = sanitize(text, "f")
    assert "@functools.lru_cache(None)" in out and "class Node" in out and "def fill" in out
    ns: dict = {}
    exec(out, ns)
    assert ns["f"](10) == 55


def test_prose_around_code_without_fences():
    text = "Sure! Here is the code:\ndef f(x):\n    return x + 1\nThis adds one."
    assert sanitize(text, "f").strip() == "def f(x):\n    return x + 1"


def test_no_code():
    assert sanitize("I cannot help with that.", "f").strip() in ("", )
    assert extract_code("", "f") == ""
