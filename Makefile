# hpcq — the two quick-start targets install what they need into .venv first.
# editable_mode=compat: a plain path entry instead of an import hook, which would cost
# every command ~10 ms at start-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test unit lint proto bench bench-long install clean bytecode conformance

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --config-settings editable_mode=compat -e '.[test]'
	$(MAKE) --no-print-directory bytecode
	touch $(STAMP)

# Commands start in tens of milliseconds only from compiled modules; compile them here,
# since an environment with PYTHONDONTWRITEBYTECODE would otherwise recompile every run.
bytecode:
	$(BIN)/python -m compileall -q hpcq

install: $(STAMP)

demo: $(STAMP) bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# ruff over everything hand-written and mypy --strict over the daemons and the SDK (the
# rules and files are in pyproject.toml); `make test` runs it first, so a lint error fails
# in seconds instead of after the suite.
lint: $(STAMP)
	$(BIN)/ruff check hpcq tests bench scripts
	$(BIN)/mypy

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test: $(STAMP) bytecode lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

# The differential conformance suite (tests/conformance/): installs (apt, on a fresh machine)
# and starts a reference Slurm 22.05 beside an hpcq cluster, runs every generated case on
# both and prints the summary table. Not part of `make test` (minutes, and root for Slurm).
conformance: $(STAMP) bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" HPCQ_CONFORMANCE=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
	  --tb=line tests/conformance

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

proto: $(STAMP)
	$(BIN)/python scripts/genproto.py

bench: $(STAMP) bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/submit.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/cli.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/throughput.py
	$(BIN)/python bench/sched.py

# Minutes, not seconds: 2,000 sbatch through three ctld SIGKILLs on each store (lost and
# duplicated must be 0), and submit latency under a storm of 200 squeue-like pollers.
bench-long: $(STAMP) bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/retries.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/storm.py

clean:
	rm -rf $(VENV) build *.egg-info
