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

# The whole loop on 127.0.0.1 (README, "The playground"): about 4 1/2 minutes, then
# a summary, the twin check against `simulate --policy ours` and $(OUT)/playground.png.
.PHONY: playground
playground: $(VENV)/.installed prometheus
	@mkdir -p $(OUT)
	$(BIN)/gpu-autoscaler playground --out $(OUT)

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

# ruff (rules and one formatter, ruff.toml), mypy --strict (setup.cfg) and the layers of
# DESIGN.md as import-linter contracts (setup.cfg); every step runs, and any failure fails.
lint: $(VENV)/.installed-lint
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy autoscaler exporter simulations || status=1; \
	$(BIN)/lint-imports --no-cache || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis

# Reaction time, queue raised -> PATCH, over the real chain (benchmarks/reaction.py):
# 20 runs of the fast configuration (everything every 1 s, ~30 s), then 20 of the
# defaults (exporter 5 s, scrape 15 s, poll 15 s; ~3 min). REACTION_ARGS goes to both (--runs 5).
.PHONY: bench-reaction
bench-reaction: $(VENV)/.installed-test prometheus
	$(BIN)/python -m benchmarks.reaction --config fast $(REACTION_ARGS)
	$(BIN)/python -m benchmarks.reaction --config default $(REACTION_ARGS)

# The long fault campaign of issue 11 (tests/campaign/soak.py): SCHEDULES seeded schedules
# against two real controllers, the emulator and Prometheus; ~32 s a schedule on 2 cores.
# Prints faults by kind, checks and violations by kind; exit 1 on a violation not yet known.
SCHEDULES ?= 200
SEED ?= 1
.PHONY: soak
soak: $(VENV)/.installed-test prometheus
	@mkdir -p $(OUT)
	$(BIN)/python -m tests.campaign.soak --schedules $(SCHEDULES) --seed $(SEED) --report $(OUT)/soak.txt
