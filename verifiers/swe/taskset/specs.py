"""The instances of fireassay's own SWE task set.

Each instance starts from a clean repository under ``repos/`` and injects ONE bug (``bug``:
exact snippets replaced in the clean files); the gold patch is the git diff that undoes it.
``tests`` are appended to (or create) test files; their git diff is the test patch.
FAIL_TO_PASS = the test functions that ``tests`` add; PASS_TO_PASS = the tests already in
those files. ``flaky``: the instance's hidden tests are nondeterministic on purpose.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    id: str
    repo: str
    statement: str
    bug: tuple[tuple[str, str, str], ...]  # (path, clean snippet, buggy snippet)
    tests: tuple[tuple[str, str], ...]  # (test path, code appended / new file)
    flaky: bool = False
    kind: str = "bugfix"  # "bugfix" | "humaneval"


SPECS: tuple[Spec, ...] = (
    # ------------------------------------------------------------------ tinycalc
    Spec(
        id="tinycalc-1",
        repo="tinycalc",
        statement='''Exponentiation chains are evaluated left to right

`evaluate("2 ** 3 ** 2")` returns 64, but exponentiation is right-associative (Python
and every calculator I tried give 512, i.e. `2 ** (3 ** 2)`).

While looking at this I also noticed that a negative exponent does not parse at all:

```
>>> from tinycalc import evaluate
>>> evaluate("2 ** -1")
tinycalc.errors.CalcError: unexpected '-' at position 5
```

Expected `0.5`. Version 0.3.1.''',
        bug=(("tinycalc/parser.py",
              '''    def power(self):
        base = self.atom()
        if self.accept("**"):
            return ("bin", "**", base, self.unary())
        return base
''',
              '''    def power(self):
        node = self.atom()
        while self.accept("**"):
            node = ("bin", "**", node, self.atom())
        return node
'''),),
        tests=(("tests/test_evaluator.py", '''

def test_power_is_right_associative():
    assert evaluate("2 ** 3 ** 2") == 512


def test_power_with_negative_exponent():
    assert evaluate("2 ** -1") == 0.5
'''),),
    ),
    Spec(
        id="tinycalc-2",
        repo="tinycalc",
        statement='''Numbers without a leading zero are rejected

Our spreadsheets export decimals like `.5` and `.25`. tinycalc chokes on them:

```
>>> evaluate(".5 * 4")
CalcError: unexpected character '.' at position 0
>>> evaluate("2*.25")
CalcError: unexpected character '.' at position 2
```

`0.5 * 4` works fine. I'd expect `.5` to be read as 0.5 like Python does.''',
        bug=(("tinycalc/tokenizer.py",
              'NUMBER = re.compile(r"(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?")\n',
              'NUMBER = re.compile(r"\\d+(\\.\\d*)?([eE][+-]?\\d+)?")\n'),),
        tests=(("tests/test_tokenizer.py", '''

def test_number_with_leading_dot():
    assert kinds(".5")[0] == ("num", 0.5)
    assert kinds("2*.25")[2] == ("num", 0.25)
'''),),
    ),
    Spec(
        id="tinycalc-3",
        repo="tinycalc",
        statement='''Division by zero escapes as ZeroDivisionError instead of CalcError

The README says errors raise `tinycalc.CalcError`, and our web form only catches that. But

```
>>> evaluate("1 / 0")
Traceback (most recent call last):
  ...
ZeroDivisionError: division by zero
```

so a user typing `1/0` gets a 500 error page. Same with the modulo operator: `5 % (2 - 2)`.
It should raise `CalcError("division by zero")`.''',
        bug=(("tinycalc/evaluator.py",
              '''    if op in ("/", "%") and right == 0:
        raise CalcError("division by zero")
    if op == "/":
''',
              '''    if op == "/":
'''),),
        tests=(("tests/test_evaluator.py", '''

def test_division_by_zero_is_a_calc_error():
    with pytest.raises(CalcError, match="division by zero"):
        evaluate("1 / 0")


def test_modulo_by_zero_is_a_calc_error():
    with pytest.raises(CalcError):
        evaluate("5 % (2 - 2)")
'''),),
    ),
    Spec(
        id="tinycalc-4",
        repo="tinycalc",
        statement='''Unary minus binds tighter than `**`: `-2 ** 2` gives 4

We evaluate pricing rules like `-x ** 2 + 10` with tinycalc and got wrong results.
Minimal example:

```
>>> evaluate("-2 ** 2")
4
>>> evaluate("-x ** 2", {"x": 3})
9
```

In Python (and in maths) `-2 ** 2 == -4`: the power is taken first, then negated.''',
        bug=(("tinycalc/parser.py",
              '''    def unary(self):
        if self.accept("-"):
            return ("neg", self.unary())
        if self.accept("+"):
            return self.unary()
        return self.power()
''',
              '''    def unary(self):
        return self.power()
'''),
             ("tinycalc/parser.py",
              '''    def atom(self):
        tok = self.current
        if tok.kind == "num":
''',
              '''    def atom(self):
        tok = self.current
        if self.accept("-"):
            return ("neg", self.atom())
        if self.accept("+"):
            return self.atom()
        if tok.kind == "num":
''')),
        tests=(("tests/test_evaluator.py", '''

def test_unary_minus_binds_looser_than_power():
    assert evaluate("-2 ** 2") == -4
    assert evaluate("-x ** 2", {"x": 3}) == -9
'''),),
    ),
    # ------------------------------------------------------------------ textkit
    Spec(
        id="textkit-1",
        repo="textkit",
        statement='''slugify leaves separators at the start and end

```
>>> slugify("Hello, World!")
'hello-world-'
>>> slugify("  -- Draft: v2 --")
'-draft-v2-'
```

Our blog URLs now end in `/hello-world-`. Expected `hello-world` and `draft-v2`: leading
and trailing separators should be dropped.''',
        bug=(("textkit/slug.py", "    slug = slug.strip(sep)\n", ""),),
        tests=(("tests/test_slug.py", '''

def test_punctuation_at_the_ends_is_dropped():
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  -- Draft: v2 --") == "draft-v2"
'''),),
    ),
    Spec(
        id="textkit-2",
        repo="textkit",
        statement='''wrap() breaks lines one character too early

`wrap("aaa bbb ccc", 7)` returns `['aaa', 'bbb', 'ccc']` although `"aaa bbb"` is exactly 7
characters and fits. The docstring says lines are "at most `width` characters", so I expected
`['aaa bbb', 'ccc']`. Every line that would be exactly `width` long gets split.''',
        bug=(("textkit/wrap.py",
              "            elif len(line) + 1 + len(piece) <= width:\n",
              "            elif len(line) + 1 + len(piece) < width:\n"),),
        tests=(("tests/test_wrap.py", '''

def test_line_may_be_exactly_width():
    assert wrap("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
'''),),
    ),
    Spec(
        id="textkit-3",
        repo="textkit",
        statement='''split_csv_line mangles escaped quotes ("") inside quoted fields

Excel writes a literal quote inside a quoted field as two quotes (RFC 4180). For the line

```
"say ""hi""",x
```

`split_csv_line` returns `['say "hi"""', 'x']`; the csv module returns `['say "hi"', 'x']`,
which is what I expected.''',
        bug=(("textkit/csvline.py",
              '''            if ch == '"':
                if i + 1 < n and line[i + 1] == '"':
                    field.append('"')
                    i += 1
                else:
                    in_quotes = False
''',
              '''            if ch == '"':
                in_quotes = False
'''),),
        tests=(("tests/test_csvline.py", '''

def test_doubled_quotes_inside_quoted_field():
    assert split_csv_line('"say ""hi""",x') == ['say "hi"', "x"]
'''),),
    ),
    Spec(
        id="textkit-4-flaky",
        repo="textkit",
        flaky=True,
        statement='''unique_words is case-sensitive

The docstring of `unique_words` says words are compared case-insensitively and returned
lower-cased, but

```
>>> unique_words("The cat saw the CAT")
['The', 'cat', 'saw', 'the', 'CAT']
```

Expected `['the', 'cat', 'saw']`.''',
        bug=(("textkit/words.py", "        seen.setdefault(w.lower(), None)\n",
              "        seen.setdefault(w, None)\n"),),
        # flaky by design: the expected order comes from a set, so it depends on string
        # hashing (PYTHONHASHSEED), which changes from run to run.
        tests=(("tests/test_words.py", '''

def test_unique_words_ignores_case():
    assert unique_words("The cat the CAT") == list({"the", "cat"})
'''),),
    ),
    # ------------------------------------------------------------------ invstore
    Spec(
        id="invstore-1",
        repo="invstore",
        statement='''Inventory.remove lets stock go negative

```
>>> inv = Inventory({"apple": 2})
>>> inv.remove("apple", 3)
>>> inv.quantity("apple")
-1
```

We sold an item we did not have. `InsufficientStock` exists in the package but is never
raised; I expected it here, with the stock left unchanged.''',
        bug=(("invstore/inventory.py",
              '''        available = self._items.get(sku, 0)
        if qty > available:
            raise InsufficientStock(sku, qty, available)
        self._items[sku] = available - qty
''',
              '''        available = self._items.get(sku, 0)
        self._items[sku] = available - qty
'''),),
        tests=(("tests/test_inventory.py", '''

def test_cannot_remove_more_than_in_stock():
    from invstore import InsufficientStock

    inv = Inventory({"apple": 2})
    with pytest.raises(InsufficientStock):
        inv.remove("apple", 3)
    assert inv.quantity("apple") == 2
'''),),
    ),
    Spec(
        id="invstore-2",
        repo="invstore",
        statement='''format_cents shows refunds wrongly

A refund of $1.50 is stored as -150 cents, and `format_cents(-150)` returns `'$-2.50'`:
both the sign placement and the amount are wrong. I expected `'-$1.50'`.
Also `format_cents(-5)` gives `'$-1.95'` instead of `'-$0.05'`.''',
        bug=(("invstore/money.py",
              '''    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{symbol}{whole:,}.{frac:02d}"
''',
              '''    whole, frac = divmod(cents, 100)
    return f"{symbol}{whole:,}.{frac:02d}"
'''),),
        tests=(("tests/test_money.py", '''

def test_format_negative_amount():
    assert format_cents(-150) == "-$1.50"
    assert format_cents(-5) == "-$0.05"
'''),),
    ),
    Spec(
        id="invstore-3",
        repo="invstore",
        statement='''Cart.total truncates fractions of a cent instead of rounding

A $9.95 mug with a 10% discount costs 895.5 cents, and `Cart.total()` returns 895. The
docstring promises rounding half-up to whole cents, which gives 896. Same for a $1.05 pen at
50% off: we get 52, expected 53. Our invoices disagree with the payment provider by a cent.''',
        bug=(("invstore/cart.py",
              "        return round_half_up(Decimal(sub) * (100 - Decimal(self.discount_percent)) / 100)\n",
              "        return int(sub * (100 - self.discount_percent) / 100)\n"),),
        tests=(("tests/test_cart.py", '''

def test_discount_rounds_half_up_to_cents():
    cart = Cart({"mug": 995})
    cart.add("mug")
    cart.apply_discount(10)
    assert cart.total() == 896


def test_discount_on_odd_total():
    cart = Cart({"pen": 105})
    cart.add("pen")
    cart.apply_discount(50)
    assert cart.total() == 53
'''),),
    ),
    Spec(
        id="invstore-4",
        repo="invstore",
        statement='''storage.load crashes on first start

The docstring of `invstore.storage.load` says "a file that does not exist yet is an empty
inventory", but on a fresh install:

```
>>> from invstore.storage import load
>>> load("/var/lib/shop/inventory.json")
FileNotFoundError: [Errno 2] No such file or directory: '/var/lib/shop/inventory.json'
```''',
        bug=(("invstore/storage.py",
              '''    if not os.path.exists(path):
        return Inventory()
    with open(path, encoding="utf-8") as fh:
''',
              '''    with open(path, encoding="utf-8") as fh:
'''),),
        tests=(("tests/test_storage.py", '''

def test_load_missing_file_is_empty(tmp_path):
    assert load(tmp_path / "nothing-here.json") == Inventory()
'''),),
    ),
    # ------------------------------------------------------------------ HumanEval-style
    Spec(
        id="humaneval-running-max",
        repo="he_running_max",
        kind="humaneval",
        statement='''Please implement `running_max` in `main.py` (it currently raises
NotImplementedError). Its docstring says what it must do:

    Return the list of running maxima: element i is the largest of numbers[0..i].
    >>> running_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]''',
        bug=(("main.py",
              '''    result = []
    best = None
    for n in numbers:
        best = n if best is None or n > best else best
        result.append(best)
    return result
''',
              "    raise NotImplementedError\n"),),
        tests=(("tests/test_main.py", '''from main import running_max


def test_docstring_example():
    assert running_max([1, 3, 2, 5, 4]) == [1, 3, 3, 5, 5]


def test_empty():
    assert running_max([]) == []


def test_negative_numbers():
    assert running_max([-5, -7, -2, -9]) == [-5, -5, -2, -2]
'''),),
    ),
    Spec(
        id="humaneval-roman",
        repo="he_roman",
        kind="humaneval",
        statement='''Please implement `to_roman` in `main.py` (it currently raises
NotImplementedError):

    Write n (1 <= n <= 3999) in upper-case Roman numerals; raise ValueError otherwise.
    >>> to_roman(1994)
    'MCMXCIV'

The `NUMERALS` table in the module may help.''',
        bug=(("main.py",
              '''    if not isinstance(n, int) or not 1 <= n <= 3999:
        raise ValueError(f"cannot write {n!r} in Roman numerals")
    out = []
    for value, letters in NUMERALS:
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)
''',
              "    raise NotImplementedError\n"),),
        tests=(("tests/test_main.py", '''import pytest

from main import to_roman


def test_examples():
    assert to_roman(1994) == "MCMXCIV"
    assert to_roman(4) == "IV"


def test_bounds():
    assert to_roman(1) == "I"
    assert to_roman(3999) == "MMMCMXCIX"


def test_out_of_range():
    with pytest.raises(ValueError):
        to_roman(0)
'''),),
    ),
    Spec(
        id="humaneval-brackets",
        repo="he_brackets",
        kind="humaneval",
        statement='''Please implement `is_balanced` in `main.py` (it currently raises
NotImplementedError):

    True when every bracket in text is closed by its own kind in the right order.
    Characters other than brackets are ignored.
    >>> is_balanced("a(b[c]{d})")
    True
    >>> is_balanced("(]")
    False''',
        bug=(("main.py",
              '''    stack = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in PAIRS:
            if not stack or stack.pop() != PAIRS[ch]:
                return False
    return not stack
''',
              "    raise NotImplementedError\n"),),
        tests=(("tests/test_main.py", '''from main import is_balanced


def test_examples():
    assert is_balanced("a(b[c]{d})") is True
    assert is_balanced("(]") is False


def test_unclosed():
    assert is_balanced("((") is False


def test_no_brackets():
    assert is_balanced("plain text") is True
'''),),
    ),
)
