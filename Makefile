# Everything a newcomer needs: `make demo` and `make test` build .venv from the lock file first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-services lint lock bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadscore demo

# Java (for Spark in local mode) and PostgreSQL, from Debian's packages when missing.
test-services:
	sh scripts/install-test-services.sh

test: $(STAMP) test-services
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks scripts
	$(BIN)/ruff format src tests benchmarks scripts

# Re-pin after changing pyproject.toml: resolves every dependency (dev tools included) with hashes.
lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --extra spark --extra postgres --python-version 3.11 \
		--generate-hashes --no-header -o requirements.lock

bench: $(STAMP)
	$(BIN)/python benchmarks/score_benchmark.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
