# Two entry points; each sets everything up on a fresh machine (Python >= 3.12 venv in .venv).
#   make run    the full analysis on the bundled XMASS-I benchmark -> results/
#   make test   the test suite (slow statistical tests run in reduced form)
VENV := .venv
BIN := $(VENV)/bin
OUT ?= results
RUN_ARGS ?=
BENCH_ARGS ?=
BENCH_JSON ?= bench_results/peers-$(shell date +%Y%m%d-%H%M%S).json

.PHONY: run test test-slow lint bench setup clean

setup:
	@bash scripts/bootstrap.sh

run: setup
	$(BIN)/bayes-xmass run --out $(OUT) $(RUN_ARGS)

# test files are spread over TEST_WORKERS processes (pytest-xdist; a file's tests stay together)
TEST_WORKERS ?= 2

test: setup lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# ruff: lint and format check (mypy runs inside the tests: tests/test_typing.py)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-slow: setup
	$(BIN)/python -m pytest -m slow -n $(TEST_WORKERS) --dist loadfile

bench:
	@BAYES_XMASS_EXTRAS=test,bench bash scripts/bootstrap.sh
	$(BIN)/python benchmarks/bench_spectra.py
	$(BIN)/python benchmarks/bench_frequentist.py
	$(BIN)/python benchmarks/bench_compile.py
	$(BIN)/python benchmarks/bench_chain_starts.py
	$(BIN)/python benchmarks/bench_global.py --quick
	$(BIN)/python benchmarks/bench_peers.py --json $(BENCH_JSON) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
