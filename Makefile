# streamdump: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
# Where the environment forbids writing bytecode (this one does, as some CI images do), every
# manage.py process the tests start compiled the example project's and streamdump's modules anew:
# about 0.08 CPU s a process, thousands of processes. Tests and tools run from cached bytecode, as
# installed code does (__pycache__ is ignored by git).
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test test-apps lint bench bench-quick services sysdeps clean compat

# The oldest and newest Django we support, each in a venv of its own (Django 6 needs Python 3.12).
PYTHON312 ?= $(firstword $(wildcard /root/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))
COMPAT42 := .venv-django42
COMPAT61 := .venv-django61
# Real applications from PyPI, on the versions pinned in tests_apps/requirements.txt.
APPS := .venv-apps

$(STAMP): pyproject.toml
	$(MAKE) sysdeps
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,postgres,mysql,bench]'
	touch $(STAMP)

# mysqlclient compiles against the MariaDB client headers, found through pkg-config.
# The benchmarks run the sqlite3 command-line tool and measure peak RSS with GNU time; the tests
# verify dumps' checksums with the zstd command-line tool.
sysdeps:
	@if ! command -v sqlite3 >/dev/null 2>&1 || [ ! -x /usr/bin/time ] || ! command -v zstd >/dev/null 2>&1; then \
		echo "installing sqlite3, time (for the benchmarks) and zstd (for the tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 time zstd >/dev/null; \
	fi
	@if ! pkg-config --exists mariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then \
		echo "installing MariaDB client headers (libmariadb-dev, pkg-config)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; \
	fi

# Starts PostgreSQL and MariaDB when they are installed here but not running.
services:
	@scripts/services.sh

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP) services
	$(VENV)/bin/ruff check streamdump tests tests_apps benchmarks example scripts
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider -m "$(PARALLEL_MARKS)" $(XDIST) --durations=15
	$(PY) -m pytest -q -p no:cacheprovider -m "$(SERIAL_MARKS)" --durations=5
	$(MAKE) compat
	$(MAKE) test-apps
	$(MAKE) bench-quick

$(COMPAT42)/.installed: pyproject.toml $(STAMP)
	$(PYTHON) -m venv $(COMPAT42)
	$(COMPAT42)/bin/pip install --quiet -e '.[test,postgres,mysql]' 'django>=4.2,<5'
	touch $@

$(COMPAT61)/.installed: pyproject.toml $(STAMP)
	$(PYTHON312) -m venv $(COMPAT61)
	$(COMPAT61)/bin/pip install --quiet -e '.[test,postgres,mysql]' 'django>=6.1,<6.2'
	touch $@

# The test suite on Django 4.2 LTS and on Django 6.1, but for what `make test` runs once, in the
# main venv: the long stress runs (fuzzing, kill loops; marker `stress`), the tests that run alone
# (`serial`), and the tests whose subject does not depend on Django's version (marker
# `version_independent`: output paths and signals; the terminal; hostile input bytes and fuzzed
# streams; the decode worker's process; COPY text, LOAD DATA and multi-row INSERT against their
# drivers and servers; SQLite's foreign-key semantics; the benchmarks' arithmetic).
COMPAT_MARKS := not stress and not version_independent and not serial
# The suite runs on two processes (pytest-xdist, a test file to each in turn; every test makes its
# own databases), the kill loops and fuzzing included (a kill lands at a random moment either
# way; they were half of the pass that runs alone), but for the tests of signals and terminals
# (their timing is their subject) and the few that change a server's global state: those run
# alone. The durations of the slowest tests are printed, to see where CI's time goes.
PARALLEL_MARKS := not serial
SERIAL_MARKS := serial
XDIST := -n 2 --dist loadfile
compat: $(COMPAT42)/.installed services
	$(COMPAT42)/bin/python -m pytest -q -p no:cacheprovider -m "$(COMPAT_MARKS)" $(XDIST)
	@if [ -n "$(PYTHON312)" ]; then \
		$(MAKE) $(COMPAT61)/.installed && $(COMPAT61)/bin/python -m pytest -q -p no:cacheprovider -m "$(COMPAT_MARKS)" $(XDIST); \
	else \
		echo "NOTE: no Python 3.12 on this machine: Django 6 compatibility was not tested"; \
	fi

$(APPS)/.installed: pyproject.toml tests_apps/requirements.txt $(STAMP)
	$(PYTHON) -m venv $(APPS)
	$(APPS)/bin/pip install --quiet --upgrade pip
	$(APPS)/bin/pip install --quiet -e '.[test,postgres,mysql]' -r tests_apps/requirements.txt
	touch $@

# Wagtail, and django-q2 with django-flags, filled through their own APIs and moved
# SQLite -> PostgreSQL -> MariaDB -> SQLite (tests_apps/, docs/APPS.md).
test-apps: $(APPS)/.installed services
	$(APPS)/bin/python -m pytest -c tests_apps/pytest.ini -q tests_apps $(XDIST)

# ruff, and mypy over streamdump/ (its settings in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check streamdump tests tests_apps benchmarks example scripts
	$(VENV)/bin/mypy

# pytest-benchmark times each tool's process once (rounds=1); its table's min column is the wall time
# every ratio, the gate and docs/BENCHMARKS.md use.
BENCH_FLAGS = --benchmark-columns=min --benchmark-sort=name --benchmark-group-by=group

# Every scale (10k, 100k, 1M rows; dumpdata/loaddata up to 100k) of both schemas (inventory and
# textheavy: STREAMDUMP_BENCH_SCHEMAS), then docs/BENCHMARKS.md and its plots. Optional, off by
# default: STREAMDUMP_BENCH_LARGE=10000000 adds 10M rows on SQLite and PostgreSQL.
bench: $(STAMP) services
	STREAMDUMP_BENCH_RESULTS=.benchmarks/results.json \
		$(PY) -m pytest benchmarks -q -p no:cacheprovider $(BENCH_FLAGS)
	$(PY) -m benchmarks.report .benchmarks/results.json docs/BENCHMARKS.md

# A small scale (2,000 rows of each schema), in CI: every tool, every backend and every digest check
# of `make bench`, to keep the suite working. It fails when an import is not identical by digest or
# memory is not bounded; never on time: at 2,000 rows Django's start-up is most of either tool's
# time (lowest ratio seen 1.75x), so even the 1x floor against loaddata that `make bench` keeps is
# off here (MIN_IMPORT_SPEEDUP=0), and a busy machine cannot fail it.
bench-quick: $(STAMP) services
	STREAMDUMP_BENCH_SCALES=2000 STREAMDUMP_BENCH_RESULTS=.benchmarks/quick.json \
		STREAMDUMP_BENCH_MIN_IMPORT_SPEEDUP=0 \
		$(PY) -m pytest benchmarks -q -p no:cacheprovider $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) $(COMPAT42) $(COMPAT61) $(APPS) demo .pytest_cache .benchmarks
