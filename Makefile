# payguard: two commands matter, `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint typecheck unit bench fmt serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# make demo PORT=8101 HOST=0.0.0.0 (or PAYGUARD_DEMO_PORT / PAYGUARD_DEMO_HOST in the environment)
demo: $(STAMP)
	$(BIN)/payguard demo $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

serve: $(STAMP)
	$(BIN)/payguard serve

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/assess.py
	$(BIN)/python benchmarks/score.py
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/auth.py
	$(BIN)/python benchmarks/detection.py

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) var/*.db* var/demo-model .pytest_cache .mypy_cache .ruff_cache
