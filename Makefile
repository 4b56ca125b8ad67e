# payguard: two commands matter, `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint typecheck unit bench fmt serve clean softhsm

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

unit: $(STAMP) softhsm
	$(BIN)/pytest

# SoftHSM2 (Debian's package) for the PKCS#11 key-source tests: installed when missing and
# this user may install packages; otherwise those tests skip and say why.
softhsm:
	@command -v softhsm2-util >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && { apt-get install -y -qq softhsm2 >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq softhsm2 >/dev/null 2>&1; }; }; } || echo "softhsm2 is not installed: the PKCS#11 tests will skip"

bench: $(STAMP)
	$(BIN)/python benchmarks/assess.py
	$(BIN)/python benchmarks/score.py
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/auth.py
	$(BIN)/python benchmarks/detection.py
	$(BIN)/python benchmarks/vault.py
	$(BIN)/python benchmarks/shield.py

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) var/*.db* var/demo-model .pytest_cache .mypy_cache .ruff_cache
