# Two entry points; each sets everything up on a fresh machine (Python >= 3.12 venv in .venv).
#   make run    the full analysis on the bundled XMASS-I benchmark -> results/
#   make test   the test suite (slow statistical tests run in reduced form)
VENV := .venv
BIN := $(VENV)/bin
OUT ?= results
RUN_ARGS ?=

.PHONY: run test test-slow bench setup clean

setup:
	@bash scripts/bootstrap.sh

run: setup
	$(BIN)/bayes-xmass run --out $(OUT) $(RUN_ARGS)

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

bench:
	@BAYES_XMASS_EXTRAS=test,bench bash scripts/bootstrap.sh
	$(BIN)/python benchmarks/bench_spectra.py
	$(BIN)/python benchmarks/bench_frequentist.py

clean:
	rm -rf $(VENV) .pytest_cache
