# The two commands that matter: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DATA    ?= .demo-data
EVENTS  ?= 200000
PORT    ?= 8080

.PHONY: install browser demo test bench lint clean

$(STAMP): pyproject.toml src/telequery/ingest/_fastotlp.pyx
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/telequery demo --data $(DATA) --events $(EVENTS) --seed 42 --host 127.0.0.1 --port $(PORT)

# Debian's Chromium for the explorer's browser tests (tests/test_ui_browser.py); skipped when
# TELEQUERY_CHROMIUM names another Chromium. Playwright drives it; no browser download.
browser:
	@test -n "$$TELEQUERY_CHROMIUM" || command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
	    || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } \
	    || echo "could not install Chromium (apt-get install chromium): the browser tests will fail"; }

test: install browser
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 --dist loadfile

bench: install  # BENCH_ARGS="--huge" adds 100M events; BENCH_ARGS="queries" runs one part
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache test-artifacts
