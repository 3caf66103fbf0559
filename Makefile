# Thin wrappers; the logic lives in scripts/, playbooks/ and the collection.
# Every Python install goes through the locks in requirements/ (regenerate them with `make lock`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
N       ?= 3
PROFILE ?= kubeadm-default
PIP_VERSION := 26.3
UV_VERSION  := 0.13.9

.PHONY: demo test lint sanity unit bench lock tools testbed-up testbed-down ee-context clean

$(BIN)/python:
	PYTHON=$(PYTHON) scripts/system-deps venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==$(PIP_VERSION)

$(VENV)/.demo-deps: requirements/runtime.txt | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements/runtime.txt
	$(BIN)/pip check
	touch $@

$(VENV)/.test-deps: requirements/test.txt | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements/test.txt
	$(BIN)/pip check
	touch $@ $(VENV)/.demo-deps

## demo: run the whole pipeline on the built-in demo inventory and write an HTML + PDF report
##       DRIFT=webhook: drift alerts to a local webhook receiver; WORSE=<node>: make that demo node worse first
demo: $(VENV)/.demo-deps
	scripts/system-deps demo
	$(BIN)/python tests/testbed/nodetree.py demo inventories/demo/hosts.yml .demo/nodes
	$(BIN)/python scripts/demo_audit_log.py .demo/nodes/demo-cp-1
	$(if $(WORSE),$(BIN)/python scripts/demo_worsen_node.py .demo/nodes/$(WORSE))
	$(if $(filter webhook,$(DRIFT)),PYTHON=$(BIN)/python scripts/with-drift-receiver) $(BIN)/ansible-playbook --vault-id demo@inventories/demo/vault-password.txt playbooks/features.yml playbooks/site.yml $(if $(filter webhook,$(DRIFT)),-e kubesec_drift_alerts_demo=true)
	@echo "Report: $$(ls -td reports/demo/2*/ | head -1)report.html (and report.pdf, report.json)"

## tools: install the pinned helm and kubectl the tests render charts with into .tools/bin (test-time only)
tools:
	scripts/tools-helm

## test: the whole suite (lint, sanity, unit, integration, test hosts, molecule)
test: $(VENV)/.test-deps
	scripts/system-deps test
	scripts/tools-helm
	scripts/test-all

## lock: re-resolve requirements/{test,runtime}.txt from pyproject.toml and requirements/constraints.in
lock: | $(BIN)/python
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/python scripts/lock.py $(BIN)/uv

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/ansible-lint

sanity: $(VENV)/.test-deps
	scripts/sanity

unit: $(VENV)/.test-deps
	$(BIN)/python -m pytest tests/unit -q

bench: $(VENV)/.test-deps
	scripts/bench-all

## ee-context: write the execution environment's build context (ansible-builder create) to build/ee-context
ee-context: $(VENV)/.test-deps
	scripts/ee-context

testbed-up: $(VENV)/.test-deps
	$(BIN)/python tests/testbed/testbed.py up --workers $(N) --profile $(PROFILE)

testbed-down:
	$(BIN)/python tests/testbed/testbed.py down

clean:
	rm -rf .demo reports/*/ collections/ansible_collections/kubesec/cluster/tests/output
