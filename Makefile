# The gateway's everyday commands; `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

# Load test settings (make load USERS=100 DURATION=1m HOST=http://127.0.0.1:8000)
HOST ?= http://127.0.0.1:8000
USERS ?= 50
SPAWN_RATE ?= 25
DURATION ?= 30s

.PHONY: help install run backends stop gateway test load idl clean

help:
	@echo "make run       install if needed, start both backends and the gateway (Ctrl-C stops all)"
	@echo "make test      install if needed, run every test"
	@echo "make install   create $(VENV) with the pinned requirements"
	@echo "make backends  start both backends in the background (pids and logs in var/); N=3 for three of each"
	@echo "make stop      stop every backend started by 'make backends'"
	@echo "make gateway   run the gateway (Gunicorn, gevent workers) in the foreground"
	@echo "make load      locust, headless, against a running gateway for DURATION ($(DURATION))"
	@echo "make idl       regenerate thrift_idl/gen from the IDL (needs thrift-compiler)"
	@echo "make bench     gateway vs bare stack vs seed design with wrk; writes bench/results.md, bench/chart.png"
	@echo "make breakdown where the gateway's CPU goes on GET /add: layers, steps switched off (A/B), a staircase; writes bench/breakdown.md"
	@echo "make soak      10 minutes of mixed load; checks fds, RSS and pools stay flat and nothing fails (var/soak.md)"

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: install
	scripts/run.sh

# Instances of each backend for `make backends`, and the cache's store (memory if empty)
N ?= 1
CACHE_STORE ?=

backends: install
	N=$(N) CACHE_STORE=$(CACHE_STORE) scripts/backends.sh start

stop:
	scripts/backends.sh stop

gateway: install
	$(BIN)/gunicorn -c gunicorn.conf.py gateway.wsgi:app

test: install
	$(BIN)/python -m pytest

load: install
	@mkdir -p var
	$(BIN)/locust -f locustfile.py --headless --users $(USERS) --spawn-rate $(SPAWN_RATE) \
		--run-time $(DURATION) --stop-timeout 5 --host $(HOST) --only-summary \
		--html var/load-report.html
	@echo "HTML report: var/load-report.html"

idl: install
	scripts/ensure-thrift-compiler.sh
	$(BIN)/python -m thrift_idl.generate

clean:
	rm -rf $(VENV) var .pytest_cache

# Benchmark settings (make bench BENCH_ARGS="--duration 10 --rounds 5")
BENCH_ARGS ?=

.PHONY: bench breakdown soak
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# make breakdown BENCH_ARGS="--duration 5 --rounds 5"
breakdown: install
	$(BIN)/python -m bench.breakdown $(BENCH_ARGS)

# Soak settings (make soak SOAK_ARGS="--duration 1800 --users 100")
SOAK_ARGS ?=

soak: install
	$(BIN)/python -m bench.soak $(SOAK_ARGS)
