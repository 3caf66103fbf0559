# Thin wrappers; the logic lives in scripts/, playbooks/ and the collection.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
N       ?= 3
PROFILE ?= kubeadm-default

.PHONY: demo test lint sanity unit bench testbed-up testbed-down clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.demo-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.demo-deps

## demo: run the whole pipeline on the built-in demo inventory and write an HTML + PDF report
demo: $(VENV)/.demo-deps
	scripts/system-deps demo
	$(BIN)/python tests/testbed/nodetree.py demo inventories/demo/hosts.yml .demo/nodes
	$(BIN)/python scripts/demo_audit_log.py .demo/nodes/demo-cp-1
	$(BIN)/ansible-playbook playbooks/site.yml
	@echo "Report: $$(ls -td reports/demo/*/ | head -1)report.html (and report.pdf, report.json)"

## test: the whole suite (lint, sanity, unit, integration, test hosts, molecule)
test: $(VENV)/.test-deps
	scripts/system-deps test
	scripts/test-all

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
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
