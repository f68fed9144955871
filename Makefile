# fireassay: `make demo` runs the main job, `make test` runs the whole suite.
# Both set up .venv idempotently (re-run pip only when pyproject.toml changes).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

test: venv
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow and not docker and not engine"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
