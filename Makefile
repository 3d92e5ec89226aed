# Kurultai: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test install install-test migrate demo bench-tally bench-ingest bench-ingest-nginx bench-ingest-workers bench-verify bench-soak bench-fanout bench-pages bench-pages-live bench-pages-workers bench-logins clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TSTAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(TSTAMP)

install: $(STAMP)
install-test: $(TSTAMP)

run: $(STAMP)
	$(BIN)/kurultai serve --demo-if-empty

migrate: $(STAMP)
	$(BIN)/kurultai migrate

# The suite's files run on TEST_JOBS workers (pytest-xdist; a file stays on one worker, so its
# servers and browser are shared as written) in the order tests/conftest.py gives: the long runs
# first, the browser suite last (--no-loadscope-reorder keeps that order).
TEST_JOBS ?= 2
# .ci/system-packages first installs the Debian packages the suite needs when they are missing.
test: $(TSTAMP)
	.ci/system-packages
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=15 $(PYTEST_ARGS)

bench-tally: $(STAMP)
	$(BIN)/python bench/tally.py

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

bench-ingest-nginx: $(STAMP)
	$(BIN)/python bench/ingest.py --proxy nginx $(BENCH_ARGS)

bench-ingest-workers: $(STAMP)
	$(BIN)/python bench/ingest.py --proxy nginx --workers 2 $(BENCH_ARGS)

bench-verify: $(STAMP)
	$(BIN)/python bench/verify.py

bench-fanout: $(STAMP)
	$(BIN)/python bench/fanout.py

bench-pages: $(STAMP)
	$(BIN)/python bench/pages.py

bench-pages-live: $(STAMP)
	$(BIN)/python bench/pages.py --live 2000 $(BENCH_ARGS)

bench-pages-workers: $(STAMP)
	$(BIN)/python bench/pages.py --live 5000 --workers 2 $(BENCH_ARGS)

bench-logins: $(STAMP)
	$(BIN)/python bench/logins.py $(BENCH_ARGS)

SOAK_MINUTES ?= 30
bench-soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
