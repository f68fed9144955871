# fireassay: `make demo` runs the main job, `make test` runs the whole suite.
# Both set up .venv idempotently (re-run pip only when pyproject.toml changes).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast demo bench clean sandbox

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
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
