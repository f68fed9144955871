"""Real run stores for the `fireassay view` tests, made once per test session by real commands:
the embedded model on a few GSM8K problems (regular and FIRE) and on MBPP+ with a feedback
turn, `fireassay verify` of hand-written MBPP+ samples (a wrong answer, an exception, hostile
text) and of two SWE patches (the gold one and none). The model runs and the Docker verifies
run at the same time to keep the suite's added time small."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# hostile text: each would set a global if it ever ran as script
XSS = [
    "</pre></code><script>window.__xss = 'script'</script>",
    '<img src=x onerror="window.__xss = \'onerror\'">',
    "<a href=\"javascript:window.__xss='link'\">click</a> [md](javascript:window.__xss='md')",
    "<svg onload=\"window.__xss='svg'\"></svg><iframe src=\"javascript:window.__xss='frame'\"></iframe>",
]
# a run folder whose name (shown as the run's name) is hostile too
XSS_RUN_NAME = "mbpp-verify-<img src=x onerror=window.__xssName=1>"

WRONG = '''def similar_elements(a, b):
    return "<script>window.__xss = 'got'</script>"
'''
RAISES = '''def similar_elements(a, b):
    raise ValueError("no shared elements <b>here</b>")
'''
HOSTILE = "\n".join(f"# {x}" for x in XSS) + '''
def similar_elements(a, b):
    """''' + XSS[0] + '''"""
    return tuple(set(a) & set(b))
'''
CORRECT = '''def is_not_prime(n):
    if n < 2:
        return True
    return any(n % i == 0 for i in range(2, int(n ** 0.5) + 1))
'''


@dataclass(frozen=True)
class ViewStores:
    regular: Path  # GSM8K, regular sampling
    fire: Path  # GSM8K, FIRE, same problems
    mbpp: Path  # MBPP+, 2 turns (feedback from the prompt's tests)
    mbpp_verify: Path  # hand-written MBPP+ samples (folder name is hostile)
    swe: Path  # SWE verify: gold patch and no patch
    gsm8k_verify: Path  # hand-written GSM8K answers: never covered, covered but missed, right, a tie

    @property
    def all(self) -> list[Path]:
        return [self.regular, self.fire, self.mbpp, self.mbpp_verify, self.swe, self.gsm8k_verify]


def _cli(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loop.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait(p: subprocess.Popen, what: str, timeout: float = 900) -> None:
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"{what}: exit {p.returncode}\n{out}\n{err[-3000:]}")


def make_view_stores(root: Path, data: Path) -> ViewStores:
    root.mkdir(parents=True, exist_ok=True)
    gsm = data / "gsm8k" / "test.jsonl"
    mbpp = data / "evalplus" / "MbppPlus.jsonl.gz"
    stores = ViewStores(root / "regular", root / "fire", root / "mbpp-2turn", root / XSS_RUN_NAME, root / "swe",
                        root / "gsm8k-verify")
    golds = [json.loads(line)["answer"].split("####")[-1].strip().replace(",", "")
             for line in gsm.read_text().splitlines()[:4]]
    answers = [["1", "1", "1"],  # never covered
               [golds[1], "7777", "7777"],  # covered, but majority picks a wrong answer
               [golds[2], golds[2], "7777"],  # majority is right
               [golds[3], "7777", None]]  # a tie between a right and a wrong answer
    gsm_samples = root / "gsm8k-samples.jsonl"
    gsm_samples.write_text("".join(
        json.dumps({"problem_id": str(i), "text": f"So the answer is {a}." if a else "I do not know."}) + "\n"
        for i, row in enumerate(answers) for a in row))
    samples = root / "mbpp-samples.jsonl"
    rows = [("Mbpp/2", WRONG), ("Mbpp/2", RAISES), ("Mbpp/2", HOSTILE), ("Mbpp/3", CORRECT), ("Mbpp/3", XSS[1])]
    samples.write_text("".join(json.dumps({"problem_id": pid, "text": f"```python\n{code}```"}) + "\n" for pid, code in rows))
    from verifiers.swe.taskset import taskset_records

    gold = next(r for r in taskset_records() if r["instance_id"] == "tinycalc-1")["patch"]
    swe_samples = root / "swe-samples.jsonl"
    swe_samples.write_text(json.dumps({"problem_id": "tinycalc-1", "text": f"The fix:\n```diff\n{gold}```\n"}) + "\n"
                           + json.dumps({"problem_id": "tinycalc-1", "text": "I could not find the bug " + XSS[0]}) + "\n")
    # Docker work first, in the background, while the model runs
    docker = [_cli("verify", "--task", "mbppplus", "--data", mbpp, "--limit", "2", "--samples", samples,
                   "--out", stores.mbpp_verify),
              _cli("verify", "--task", "swe", "--limit", "1", "--samples", swe_samples, "--out", stores.swe),
              _cli("verify", "--task", "gsm8k", "--data", gsm, "--limit", "4", "--samples", gsm_samples,
                   "--out", stores.gsm8k_verify)]
    common = ["--task", "gsm8k", "--data", gsm, "--limit", "3", "-n", "4", "--max-tokens", "40", "--quiet"]
    _wait(_cli("run", *common, "--sampler", "regular", "--out", stores.regular, "--name", "regular"), "gsm8k regular")
    _wait(_cli("run", *common, "--sampler", "fire", "--out", stores.fire, "--name", "fire"), "gsm8k fire")
    _wait(_cli("run", "--task", "mbppplus", "--data", mbpp, "--limit", "1", "-n", "2", "--max-tokens", "128",
               "--max-turns", "2", "--out", stores.mbpp, "--name", "mbpp-2turn", "--quiet"), "mbpp 2 turns")
    for p, what in zip(docker, ("mbpp verify", "swe verify", "gsm8k verify")):
        _wait(p, what)
    return stores
