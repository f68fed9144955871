"""Unknown options are errors, found before any work: verifiers, selector specs, engines,
samplers and task options refuse a key they do not take, naming the valid keys and the closest
match; `fireassay verify` and `fireassay run` refuse bad selectors before judging or sampling and
leave no run directory behind. (No Docker, no model: every refusal here comes before either.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loop.run import RunConfig, RunError, execute_run
from loop.run.checks import check_engine, check_sampler
from loop.run.selectors import SelectorSpecError, check_selector_specs, parse_selector_specs
from loop.tasks import get_task
from sandbox.registry import UnknownNameError
from verifiers import create_verifier
from verifiers.options import UnknownOptionError, check_options, closest

CLI = [sys.executable, "-m", "loop.cli"]


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_check_options_names_valid_keys_and_the_closest():
    with pytest.raises(UnknownOptionError) as e:
        check_options("selector 'confidence'", ["sourc"], ["source", "seed"])
    assert str(e.value) == "selector 'confidence' has no option 'sourc' (did you mean 'source'?); valid: seed, source"
    with pytest.raises(UnknownOptionError, match="it takes none"):
        check_options("verifier 'x'", ["a"], [])
    check_options("anything", ["whatever"], None)  # None: takes any key
    assert closest("majorty", ["best_of_n", "majority"]) == "majority"
    assert closest("zzz", ["majority"]) is None


def test_create_verifier_no_longer_drops_options():
    with pytest.raises(UnknownOptionError, match=r"'sourc' \(did you mean 'source'\?\)"):
        create_verifier("confidence", sourc="cot")
    with pytest.raises(ValueError, match="strict or flexible, got 'numeric'"):
        create_verifier("gsm8k", answer_format="numeric")  # GSM8K's answer format is how it reads answers
    with pytest.raises(UnknownOptionError, match="answer_format"):
        create_verifier("math", answer_format="numeric")  # an oracle without one refuses it
    with pytest.raises(UnknownOptionError, match="did you mean 'model'"):
        create_verifier("reward_model", modle="x")  # **options constructors declare their names
    with pytest.raises(UnknownNameError, match="Did you mean 'majority'"):
        create_verifier("majorty")
    assert create_verifier("majority", answer_format="numeric", seed=3).seed == 3
    with pytest.raises(UnknownOptionError, match=r"'repaet' \(did you mean 'repeat'\?\)"):
        create_verifier("swe", repaet=3)  # the SWE verifiers took **_ and dropped it
    assert create_verifier("swe", repeat=3).repeat == 3


def test_task_options_go_to_the_oracle_and_are_checked():
    with pytest.raises(UnknownOptionError, match=r"task 'gsm8k' .* has no option 'tests'; valid: answer_format, rel_tol"):
        get_task("gsm8k", tests="base")
    assert get_task("mbppplus", tests="base").options == {"tests": "base"}


@pytest.mark.parametrize("spec,message", [
    ("confidence:sourc=cot", "has no option 'sourc' (did you mean 'source'?)"),
    ("majorty", "Did you mean 'majority'"),
    ("gsm8k", "oracle"),
    ("majority:seed=3", "seed= is set for every selector by --seed"),
    ("majority:engine=llamacpp", "judges without a model"),
    ("llm_judge", "llm_judge needs a model"),
    ("llm_judge:engine=llamcpp", "Did you mean 'llamacpp'"),
    ("llm_judge:engine=llamacpp:engine_n_paralel=2", "(did you mean 'n_parallel'?)"),
    ("weighted_majority:weights=reward_model", "weights=reward_model is not a stored selector"),
])
def test_selector_specs_are_checked_before_anything_is_built(spec, message):
    with pytest.raises(SelectorSpecError) as e:
        check_selector_specs(parse_selector_specs(spec))
    assert message in str(e.value)


def test_selector_checks_that_pass():
    check_selector_specs(parse_selector_specs("llm_judge"), run_engine=True)  # a run judges with its own model
    check_selector_specs(parse_selector_specs("best_of_n,weighted_majority:weights=best_of_n"))
    check_selector_specs(parse_selector_specs("weighted_majority:weights=rm"), have={"rm"})
    check_selector_specs(parse_selector_specs("reward_model:backend=http:url=http://h:1:model=m:as=rm2"))
    with pytest.raises(SelectorSpecError, match="stored with options 'majority'"):
        check_selector_specs(parse_selector_specs("confidence:as=majority"), stored={"majority": "majority"})


def test_engine_and_sampler_options_are_checked():
    with pytest.raises(UnknownOptionError, match=r"engine 'llamacpp' has no option 'n_ctxx' \(did you mean 'n_ctx'\?\)"):
        check_engine("llamacpp", {"n_ctxx": 4096})
    with pytest.raises(UnknownNameError, match="Did you mean 'openai'"):
        check_engine("opanai", {})
    check_engine("openai", {"model": "m", "base_url": "http://h:1/v1"})
    with pytest.raises(UnknownOptionError, match=r"'hot_temprature' \(did you mean 'hot_temperature'\?\)"):
        check_sampler("fire", {"hot_temprature": 30}, 64)
    with pytest.raises(UnknownOptionError, match="hot_top_k"):
        check_sampler("regular", {"hot_top_k": 16}, 64)  # a FIRE knob given to regular sampling
    with pytest.raises(ValueError, match="N >= 1"):
        check_sampler("fire@sentence:0", {}, 64)
    check_sampler("fire@sentence:2", {"temperature": 0.7, "hot_top_k": 8}, 64)


def test_execute_run_refuses_before_writing(tmp_path, shared_data):
    out = tmp_path / "run"
    base = dict(task="gsm8k", data=str(shared_data / "gsm8k" / "test.jsonl"), limit=1, n=1, max_tokens=8)
    for cfg, message in ((RunConfig(**base, selectors=("confidence:sourc=cot",)), "did you mean 'source'"),
                         (RunConfig(**base, engine_options={"n_ctxx": 1}), "did you mean 'n_ctx'"),
                         (RunConfig(**base, sampler="fire", sampler_params={"hot_tempreature": 3}),
                          "did you mean 'hot_temperature'"),
                         (RunConfig(**base, task_options={"tests": "base"}), "has no option 'tests'")):
        with pytest.raises(RunError) as e:
            execute_run(cfg, out)
        assert message in str(e.value)
        assert not out.exists()


def gsm8k_samples(tmp_path: Path, shared_data: Path) -> tuple[Path, Path]:
    data = shared_data / "gsm8k" / "test.jsonl"
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"problem_id": "0", "text": "The answer is 18."}\n')
    return data, samples


def test_verify_refuses_a_misspelled_selector_before_judging(tmp_path, shared_data):
    data, samples = gsm8k_samples(tmp_path, shared_data)
    out = tmp_path / "run"
    p = cli("verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out, "--selectors", "majorty")
    assert p.returncode == 2 and "Did you mean 'majority'" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()  # nothing written: the same --out works at once
    p = cli("verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out,
            "--selectors", "confidence:sourc=cot")
    assert p.returncode == 2 and "did you mean 'source'" in p.stderr and not out.exists()
    p = cli("verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out, "--tests", "base")
    assert p.returncode == 2 and "has no option 'tests'" in p.stderr and not out.exists()
    p = cli("verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out, "--selectors", "majority")
    assert p.returncode == 0 and "verified 1 candidates: 1 passed" in p.stdout


def test_a_vote_on_a_task_without_an_answer_format_is_refused_before_any_work(tmp_path, shared_data):
    """majority on MBPP+ (programs have no answer format): refused before the oracle judges
    anything or the run directory is made, in verify and in run; with answer_format= it passes."""
    data = shared_data / "evalplus" / "MbppPlus.jsonl.gz"
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"problem_id": "Mbpp/2", "text": "def f(): pass"}\n')
    out = tmp_path / "run"
    for cmd in (["verify", "--samples", samples], ["run", "--limit", "1", "-n", "1"]):
        p = cli(*cmd, "--task", "mbppplus", "--data", data, "--out", out, "--selectors", "majority")
        assert p.returncode == 2 and "majority needs an answer format" in p.stderr, p.stderr
        assert "majority:answer_format=math" in p.stderr and "evalplus" not in p.stderr and not out.exists()
    task = get_task("mbppplus", data=data)
    check_selector_specs(parse_selector_specs(["majority:answer_format=math", "best_of_n"]), task=task)


def test_run_refuses_bad_selectors_and_options_before_sampling(tmp_path, shared_data):
    data = shared_data / "gsm8k" / "test.jsonl"
    out = tmp_path / "run"
    for extra, message in (
        (["--selectors", "majorty"], "Did you mean 'majority'"),
        (["--selectors", "confidence:sourc=cot"], "did you mean 'source'"),
        (["--engine-option", "n_ctxx=4096"], "did you mean 'n_ctx'"),
        (["--sampler", "fire", "--param", "hot_temprature=30"], "did you mean 'hot_temperature'"),
        (["--engine", "llamcpp"], "Did you mean 'llamacpp'"),
    ):
        p = cli("run", "--task", "gsm8k", "--data", data, "--limit", "1", "-n", "1", "--out", out, *extra)
        assert p.returncode == 2, p.stderr
        assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert not out.exists()
