# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 100
RUNS ?= 1
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: run test install bench dev clean export

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m pipeline.cli run

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pipeline.bench --drugs $(N) --full-runs $(RUNS)

dev: $(STAMP)
	$(BIN)/dagster dev

clean:
	rm -rf warehouse/*.duckdb warehouse/staging warehouse/cache warehouse/parquet .dagster_home/storage
