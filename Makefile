# Two commands on a fresh machine with Python 3.11+:  make demo  ·  make test
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: install demo test serve bench

$(BIN)/heartbeat-mcp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/heartbeat-mcp

demo: install
	$(BIN)/heartbeat-mcp demo

test: install
	$(BIN)/python -m pytest

serve: install
	$(BIN)/heartbeat-mcp serve

bench: install
	$(BIN)/python benchmarks/bench_checks.py
