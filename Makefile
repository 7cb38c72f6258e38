# The two commands the README opens with, plus the benchmark.
#   make demo   creates .venv, installs the package and replays the bundled recording
#   make test   creates .venv with the test extra, installs Debian's prometheus, runs pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test bench bench-exporter bench-controller bench-simulator simulate-report lint prometheus clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	@mkdir -p $(OUT)
	$(BIN)/gpu-autoscaler dry-run deploy/examples/llm-scaler.yaml deploy/examples/llm-ramp.csv --plot $(OUT)/demo.png

prometheus:
	@command -v prometheus >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; }

test: $(VENV)/.installed-test prometheus
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.dryrun

bench-exporter: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.exporter

bench-controller: $(VENV)/.installed-test prometheus
	$(BIN)/python -m benchmarks.controller

bench-simulator: $(VENV)/.installed
	$(BIN)/python -m benchmarks.simulator

# Regenerates docs/simulation.md's tables and plots (about 9 minutes on 2 cores).
simulate-report: $(VENV)/.installed
	$(BIN)/python -m simulations.report_all

$(VENV)/.installed-lint: $(VENV)/.installed-test
	$(BIN)/python -m pip install -q -e '.[test,lint]'
	touch $@

lint: $(VENV)/.installed-lint
	$(BIN)/ruff check .
	$(BIN)/mypy autoscaler exporter simulations

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis

# The long fault campaign of issue 11 (tests/campaign/soak.py): SCHEDULES seeded schedules
# against two real controllers, the emulator and Prometheus; ~32 s a schedule on 2 cores.
# Prints faults by kind, checks and violations by kind; exit 1 on a violation not yet known.
SCHEDULES ?= 200
SEED ?= 1
.PHONY: soak
soak: $(VENV)/.installed-test prometheus
	@mkdir -p $(OUT)
	$(BIN)/python -m tests.campaign.soak --schedules $(SCHEDULES) --seed $(SEED) --report $(OUT)/soak.txt
