"""Reward-model plumbing with tiny models built here (random weights, real transformers code):
our scores equal a direct forward pass, batch order never changes a score, the HTTP pooling
backend against a real local server, the PRM step scores and their aggregation."""
from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from verifiers import Candidate, Problem, create_verifier  # noqa: E402
from verifiers.reward import ProcessReward, RewardModel, aggregate_steps, split_steps  # noqa: E402
from verifiers.reward.backends import BackendConfig, RewardBackendError  # noqa: E402

from .reward_models import build_sequence_classifier, build_token_classifier  # noqa: E402

PROBLEM = Problem("p0", ({"role": "user", "content": "Natalia sold 48 clips in April and half as many in May. How many?"},))
TEXTS = [
    "48 / 2 = 24. 48 + 24 = 72. The answer is 72.",
    "The answer is 72.",
    "Step 1: half of 48 is 24.\n\nStep 2: 48 + 24 = 72.\n\nThe answer is 72.",
    "She sold 48 + 48 = 96 clips. The answer is 96.",
    "72",
    "In May she sold 24 clips, so in total 48 + 24 = 72 clips were sold in April and May together. The answer is 72.",
    "The answer is 24.",
]
CANDS = [Candidate("p0", i, t) for i, t in enumerate(TEXTS)]


# Batched, padded forward passes run other matmul shapes than one-at-a-time passes; on this CPU
# float32 results differed by up to 6.5e-4 (seen in a full-suite run). A wrong head, wrong
# template or mixed-up order differs by far more (logits here are O(1) apart).
REL, ABS = 3e-3, 2e-3


@pytest.fixture(scope="module")
def rm_path(tmp_path_factory):
    return build_sequence_classifier(tmp_path_factory.mktemp("rm"), num_labels=2)


@pytest.fixture(scope="module")
def prm_path(tmp_path_factory):
    return build_token_classifier(tmp_path_factory.mktemp("prm"))


def direct_logits(path, conversation) -> list[float]:
    """Our reference: one unbatched forward pass, written with transformers alone."""
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
    text = tok.apply_chat_template(conversation, tokenize=False)
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return model(input_ids=ids).logits[0].tolist()


def conv(text: str) -> list[dict[str, str]]:
    return [dict(m) for m in PROBLEM.prompt] + [{"role": "assistant", "content": text}]


def test_scores_equal_a_direct_forward_pass(rm_path):
    rm = create_verifier("reward_model", model=str(rm_path), batch_size="3", head="0")
    verdicts = rm.verify(PROBLEM, CANDS)
    want = [direct_logits(rm_path, conv(t))[0] for t in TEXTS]
    got = [v.score for v in verdicts]
    assert got == pytest.approx(want, rel=REL, abs=ABS)
    assert len(set(round(w, 6) for w in want)) == len(want)  # the test model tells texts apart
    assert [v.details["weight"] for v in verdicts] == got
    best = max(range(len(got)), key=got.__getitem__)
    assert [v.passed for v in verdicts] == [i == best for i in range(len(got))]
    # the second head is the model's other logit
    rm1 = RewardModel(model=str(rm_path), head=1)
    assert [v.score for v in rm1.verify(PROBLEM, CANDS)] == pytest.approx(
        [direct_logits(rm_path, conv(t))[1] for t in TEXTS], rel=REL, abs=ABS)


def test_batch_order_and_size_never_change_a_score(rm_path):
    base = {c.text: v.score for c, v in zip(CANDS, RewardModel(model=str(rm_path), batch_size=1).verify(PROBLEM, CANDS))}
    import random

    for seed in range(3):
        perm = CANDS[:]
        random.Random(seed).shuffle(perm)
        for bs in (2, 4, 7):
            scores = [v.score for v in RewardModel(model=str(rm_path), batch_size=bs).verify(PROBLEM, perm)]
            assert scores == pytest.approx([base[c.text] for c in perm], rel=REL, abs=ABS)


def test_several_problems_in_one_batch_keep_their_scores(rm_path):
    other = Problem("p1", ({"role": "user", "content": "What is 2 + 2?"},))
    rm = RewardModel(model=str(rm_path), batch_size=3)
    alone = [v.score for v in rm.verify(other, CANDS[:3])]
    both = rm.verify_many([(PROBLEM, CANDS), (other, CANDS[:3])])
    assert [v.score for v in both[1]] == pytest.approx(alone, rel=REL, abs=ABS)
    assert [v.score for v in both[0]] == pytest.approx([v.score for v in rm.verify(PROBLEM, CANDS)], rel=REL, abs=ABS)


def test_config_errors_are_clear(rm_path, tmp_path):
    with pytest.raises(ValueError, match="needs model=PATH"):
        RewardModel()
    with pytest.raises(ValueError, match="backend 'torch' is unknown"):
        RewardModel(model="x", backend="torch")
    with pytest.raises(ValueError, match="unknown option.*bogus"):
        RewardModel(model="x", bogus="1")
    with pytest.raises(RewardBackendError, match="head=2 but .* has 2 output label"):
        RewardModel(model=str(rm_path), head=2)
    with pytest.raises(RewardBackendError, match="could not load"):
        RewardModel(model=str(tmp_path / "missing"))


# --------------------------------------------------------------------------- HTTP (/pooling)


class _PoolingServer:
    """A real HTTP server speaking vLLM's /pooling shape, running the transformers model."""

    def __init__(self, path) -> None:
        tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
        self.requests: list[dict] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/pooling":
                    self.send_response(404)
                    self.end_headers()
                    return
                outer.requests.append(body)
                text = tok.apply_chat_template(body["messages"], tokenize=False,
                                               add_generation_prompt=body.get("add_generation_prompt", True))
                ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
                with lock, torch.inference_mode():
                    logits = model(input_ids=ids).logits[0].tolist()
                data = json.dumps({"object": "list", "model": body.get("model"), "data": [
                    {"index": 0, "object": "pooling", "data": logits}], "usage": {"prompt_tokens": ids.shape[1]}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_pooling_backend_matches_the_model(rm_path):
    server = _PoolingServer(rm_path)
    try:
        rm = create_verifier("reward_model", backend="http", url=server.url, model="tiny-rm", head="1", concurrency="3")
        got = [v.score for v in rm.verify(PROBLEM, CANDS)]
        assert got == pytest.approx([direct_logits(rm_path, conv(t))[1] for t in TEXTS], rel=REL, abs=ABS)
        assert len(server.requests) == len(TEXTS)
        assert all(r["model"] == "tiny-rm" and r["task"] == "classify" and r["use_activation"] is False
                   and r["add_generation_prompt"] is False for r in server.requests)
        bad = RewardModel(backend="http", url=server.url.replace("http://", "http://") + "/nope")
        with pytest.raises(RewardBackendError, match="answered 404"):
            bad.verify(PROBLEM, CANDS[:1])
    finally:
        server.close()
    down = RewardModel(backend="http", url=server.url, timeout="2")
    with pytest.raises(RewardBackendError, match="unreachable"):
        down.verify(PROBLEM, CANDS[:1])


# --------------------------------------------------------------------------- process reward


def test_split_and_aggregate():
    assert split_steps("a\n\nb\n  \nc") == ["a", "b", "c"]
    assert split_steps("Step 1: x Step 2: y", split="marker", marker="Step ") == ["Step 1: x", "Step 2: y"]
    assert split_steps("intro Step 1: x", split="marker", marker="Step ") == ["intro", "Step 1: x"]
    assert split_steps("  ") == [""]
    assert aggregate_steps([0.9, 0.2, 0.5], "min") == 0.2
    assert aggregate_steps([0.9, 0.2, 0.5], "last") == 0.5
    assert aggregate_steps([0.9, 0.2, 0.5], "product") == pytest.approx(0.09)
    assert math.isnan(aggregate_steps([], "min"))


def test_process_reward_step_scores_equal_direct_pass(prm_path):
    tok = transformers.AutoTokenizer.from_pretrained(prm_path, local_files_only=True)
    model = transformers.AutoModelForTokenClassification.from_pretrained(prm_path, local_files_only=True).eval()
    tag = tok.convert_tokens_to_ids("<extra_0>")
    prm = create_verifier("process_reward", model=str(prm_path), batch_size="2", aggregate="min")
    verdicts = prm.verify(PROBLEM, CANDS)
    for c, v in zip(CANDS, verdicts):
        steps = split_steps(c.text)
        body = "".join(s + "<extra_0>" for s in steps)
        text = tok.apply_chat_template(conv(body), tokenize=False)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            probs = torch.softmax(model(input_ids=ids).logits[0], dim=-1)[:, 1]
        want = probs[ids[0] == tag].tolist()
        assert len(want) == len(steps)
        assert v.details["steps"] == pytest.approx(want, abs=1e-5)
        assert v.score == pytest.approx(min(want), abs=1e-5)
    last = ProcessReward(model=str(prm_path), aggregate="last").verify(PROBLEM, CANDS)
    assert [v.score for v in last] == pytest.approx([v.details["steps"][-1] for v in verdicts], abs=1e-5)
    with pytest.raises(RewardBackendError, match="not one token"):
        ProcessReward(model=str(prm_path), step_tag="<nope>")


# --------------------------------------------------------------------------- vLLM (where it imports)


@pytest.mark.vllm
def test_vllm_backend_matches_the_model(rm_path):
    pytest.importorskip("vllm")
    rm = RewardModel(model=str(rm_path), backend="vllm", head=1, dtype="float32")
    try:
        got = [v.score for v in rm.verify(PROBLEM, CANDS)]
    finally:
        rm.close()
    assert got == pytest.approx([direct_logits(rm_path, conv(t))[1] for t in TEXTS], rel=1e-3, abs=1e-4)


def test_backend_config_validation():
    with pytest.raises(ValueError, match="needs url="):
        BackendConfig(backend="http")
    with pytest.raises(ValueError, match="dtype"):
        BackendConfig(model="m", dtype="float8")


def test_select_adds_reward_model_and_weighted_vote_to_a_run(rm_path, tmp_path, shared_data):
    from loop.store import RunStore

    from .test_cli_verify import make_samples, run_cli

    gsm = shared_data / "gsm8k" / "test.jsonl"
    samples = make_samples(tmp_path / "s.jsonl", gsm, problems=3, n=4)
    run = tmp_path / "run"
    run_cli("verify", "--task", "gsm8k", "--data", gsm, "--samples", samples, "--out", run, "--selectors", "majority")
    p = run_cli("select", run, "--selectors",
                f"reward_model:model={rm_path}:head=1:batch_size=5,weighted_majority:weights=reward_model")
    assert "reward_model: judged 12 new candidates" in p.stderr
    with RunStore.open(run) as store:
        rv = store.verdicts("reward_model")
        wv = store.verdicts("weighted_majority@reward_model")
        problems = {q.id: q for q in store.problems()}
        cands = store.candidates()
        assert store.verifiers()["reward_model"]["role"] == "selector"
    for c in cands:
        want = direct_logits(rm_path, [dict(m) for m in problems[c.problem_id].prompt]
                             + [{"role": "assistant", "content": c.text}])[1]
        assert rv[c.key].score == pytest.approx(want, rel=REL, abs=ABS)
    for c in cands:  # weighted_majority voted with the stored reward as it is (transform=raw, the default)
        assert wv[c.key].details["weight"] == pytest.approx(rv[c.key].score)
        assert wv[c.key].details["transform"] == "raw"
