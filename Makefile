# flowlake: `make run` and `make test` are the whole quick start (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
UV_VERSION := 0.13.8
# The day `make run` builds: the latest XNYS session on or before today (computed by flowlake).
RUN_UNDERLYINGS ?= SPY,QQQ,IWM,AAPL,MSFT,NVDA,AMZN,TSLA,META,GOOGL,JPM,XOM
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: install run test test-heavy test-scale services lint bench browser clean

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on this machine),
# every process would otherwise compile Dagster, sqlalchemy, ... from source at each start.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the dashboard screenshot test (Debian's package; playwright's own
# browser download cannot work offline).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Servers for the scale-out test, from Debian's packages: started by the test on loopback.
services:
	@command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server postgresql >/dev/null; }

run: install
	$(BIN)/flowlake synth --underlyings $(RUN_UNDERLYINGS)
	$(BIN)/flowlake build
	$(BIN)/flowlake serve

test: install browser
	$(BIN)/python -m pytest -m "not slow and not scale and not heavy" -q

test-heavy: install
	$(BIN)/python -m pytest -m heavy -q

test-scale: install services
	$(BIN)/python -m pytest -m scale -q -s

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/flowlake bench --sizes 1M,3M,10M
	$(BIN)/flowlake bench --micro-batch
	$(BIN)/flowlake bench --daemon-load
	$(BIN)/flowlake bench --pages
	$(BIN)/python -m pytest -m slow -q

clean:
	rm -rf $(VENV) data/lake data/dagster_home
