# streamdump: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick services sysdeps clean

$(STAMP): pyproject.toml
	$(MAKE) sysdeps
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,postgres,mysql]'
	touch $(STAMP)

# mysqlclient compiles against the MariaDB client headers, found through pkg-config.
sysdeps:
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
	$(VENV)/bin/ruff check streamdump tests benchmarks example scripts
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check streamdump tests benchmarks example scripts

bench: $(STAMP) services
	$(PY) -m pytest benchmarks -q -p no:cacheprovider --benchmark-only
	$(PY) benchmarks/report.py

bench-quick: $(STAMP) services
	STREAMDUMP_BENCH_SCALES=2000 $(PY) -m pytest benchmarks -q -p no:cacheprovider --benchmark-only

clean:
	rm -rf $(VENV) demo .pytest_cache .benchmarks
